//! The service nested in an axum router under `/realtime`, behind the host's own middleware,
//! and stopped by the host's graceful shutdown.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chanbind_async::{ChanbindService, ServerConfig};
use chanbind_engine::auth::{ExtensionAuthenticator, User};
use hyper::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{call, close_code, connect, engine, next_json};

/// What the host's session middleware knows about a caller.
#[derive(Clone)]
struct HostSession {
    user_id: i64,
}

/// The host's middleware: `x-session: <id>` is a signed-in user (a real host checks a cookie).
async fn sessions(mut request: Request, next: Next) -> Response {
    let session = request
        .headers()
        .get("x-session")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .map(|user_id| HostSession { user_id });
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    next.run(request).await
}

/// With the `axum` feature the service finds its mount in axum's `OriginalUri`; without it,
/// the host says where it nests it.
fn config() -> ServerConfig {
    if cfg!(feature = "axum") {
        ServerConfig::default()
    } else {
        ServerConfig::default().mount_path("/realtime")
    }
}

struct Host {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
}

/// The host: its own `/` page, chanbind under `/realtime`, the session middleware around
/// both, and `axum::serve`'s graceful shutdown handing over to the service's.
async fn host() -> (Host, ChanbindService) {
    let auth = ExtensionAuthenticator::map(|s: &HostSession| {
        Some(User::new(s.user_id, format!("user{}", s.user_id)))
    });
    let engine = engine(|b| b.authenticator(auth).allow_anonymous(false)).await;
    let realtime = chanbind_async::service(engine, config());
    let app = Router::new()
        .route("/", get(|| async { "the host's page" }))
        .nest_service("/realtime", realtime.clone())
        .layer(middleware::from_fn(sessions));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = realtime.shutdown_on(async move {
        let _ = stopped.await;
    });
    let served = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .unwrap();
    });
    (Host { addr, stop, served }, realtime)
}

#[tokio::test]
async fn the_hosts_middleware_decides_the_user_of_websockets_and_http() {
    let (host, _realtime) = host().await;
    let addr = host.addr;
    let page = call(addr, Method::GET, "/", None, &[]).await;
    assert_eq!(page.status, 200, "the host's own route");

    match connect(&format!("ws://{addr}/realtime/"), &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401, "no session, no anonymous access")
        }
        other => panic!("expected a 401, got {:?}", other.map(|_| ())),
    }
    let mut ws = connect(&format!("ws://{addr}/realtime/"), &[("x-session", "42")])
        .await
        .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["data"]["user"]["id"], 42, "{hello}");

    let path = "/realtime/api/todo.Task/";
    let anonymous = call(addr, Method::GET, path, None, &[]).await;
    assert_eq!(anonymous.status, 401);
    let signed_in = call(addr, Method::GET, path, None, &[("x-session", "42")]).await;
    assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
    assert_eq!(signed_in.body["count"], 0);

    let plain = call(addr, Method::GET, "/realtime", None, &[("x-session", "42")]).await;
    assert_eq!(plain.status, 426);
    assert_eq!(
        plain.body["message"],
        Value::from("this is the WebSocket endpoint; the HTTP API is under /realtime/api/")
    );
    let created = call(
        addr,
        Method::POST,
        path,
        Some(json!({"title": "from the host"})),
        &[("x-session", "42")],
    )
    .await;
    assert_eq!(created.headers["location"], "/realtime/api/todo.Task/1");
}

#[tokio::test]
async fn the_hosts_graceful_shutdown_closes_websockets_with_1001() {
    let (host, realtime) = host().await;
    let mut ws = connect(
        &format!("ws://{}/realtime/", host.addr),
        &[("x-session", "1")],
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    assert_eq!(realtime.websockets(), 1);
    host.stop.send(()).unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1001));
    host.served.await.unwrap();
    assert_eq!(realtime.websockets(), 0);
    // A handshake that still reaches the service (its host kept serving) is refused.
    let refused = call_after_shutdown(&realtime).await;
    assert_eq!(refused, 503);
}

/// Hands one handshake straight to the service, as a host that kept serving would.
async fn call_after_shutdown(realtime: &ChanbindService) -> u16 {
    use tower_service::Service;
    let request = hyper::Request::get("/")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = realtime.clone().call(request).await.unwrap();
    response.status().as_u16()
}
