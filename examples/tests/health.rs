//! `/healthz` and `/readyz` as a load balancer sees them, on both adapters over real
//! sockets: alive and ready on the in-memory store; ready on PostgreSQL, unavailable within a
//! second of a private PostgreSQL server stopping (the store, the layer and the capture
//! listener all failing, by short reasons only) and ready again once it is back; unavailable
//! while the server drains, as an open WebSocket still gets answers, before it is closed
//! with 1001; answered without credentials and past `max_connections`; a flood of probes
//! costing the database few queries; and under a mount point.
//!
//! The PostgreSQL test that stops its server runs a server of its own (initdb into a
//! temporary folder); the flood uses `DATABASE_URL`. Without them these tests pass with a
//! notice, except under `CI=true`, where they fail:
//! `DATABASE_URL=postgres://... cargo test -p chanbind-examples --test health`.

#[path = "cluster/postgres.rs"]
mod postgres;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::store::MemoryStore;
use chanbind_engine::{Engine, EngineBuilder};
use chanbind_examples::serve::{Adapter, Listener, Pg};
use futures_util::{SinkExt, StreamExt};
use postgres::PrivatePostgres;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// How long any one wait may last.
const WAIT: Duration = Duration::from_secs(30);

const ADAPTERS: [Adapter; 2] = [Adapter::Async, Adapter::Sync];

fn registry() -> Registry {
    Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title")))
        .unwrap()
}

/// A server of either adapter.
enum Server {
    Async(chanbind_async::ServerHandle),
    Sync(chanbind_sync::ServerHandle),
}

impl Server {
    fn start(adapter: Adapter, engine: Engine, drain: Duration) -> (Server, SocketAddr) {
        match adapter {
            Adapter::Async => {
                let config = chanbind_async::ServerConfig::default().drain_delay(drain);
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let server = chanbind_async::serve(listener, engine, config).unwrap();
                let addr = server.local_addr();
                (Server::Async(server), addr)
            }
            Adapter::Sync => {
                let config = chanbind_sync::ServerConfig::default().drain_delay(drain);
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let server = chanbind_sync::serve(listener, engine, config).unwrap();
                let addr = server.local_addr();
                (Server::Sync(server), addr)
            }
        }
    }

    async fn shutdown(self) {
        match self {
            Server::Async(server) => server.shutdown().await,
            Server::Sync(server) => {
                tokio::task::spawn_blocking(move || server.shutdown())
                    .await
                    .unwrap();
            }
        }
    }
}

async fn memory_engine(builder: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Engine {
    let registry = registry();
    let store = Arc::new(MemoryStore::new(&registry));
    builder(Engine::builder(registry, store).allow_anonymous(true))
        .start()
        .await
        .expect("engine")
}

/// One request on a connection of its own: the status and the JSON body (null if none).
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, Value) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(response)
    };
    let response = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("an answer in time")
        .expect("an answer");
    let text = String::from_utf8(response).expect("UTF-8");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    request(addr, "GET", path).await
}

/// Polls `path` until its answer satisfies `done`, for `within` at most; the last answer.
async fn until(
    addr: SocketAddr,
    path: &str,
    within: Duration,
    done: impl Fn(u16, &Value) -> bool,
) -> Option<(u16, Value)> {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get(addr, path).await;
        if done(status, &body) {
            return Some((status, body));
        }
        if Instant::now() >= deadline {
            eprintln!("last answer of {path}: {status} {body}");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next frame that is not a ping or pong.
async fn next(ws: &mut WebSocket) -> Message {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("a frame");
        if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
            return message;
        }
    }
}

fn ready() -> Value {
    json!({"status": "ready", "checks": {
        "store": {"ok": true}, "layer": {"ok": true},
        "capture": {"ok": true}, "shutdown": {"ok": true},
    }})
}

/// Every check's reason is one of the short words of docs/protocol.md: never driver text.
fn assert_short_reasons(body: &Value) {
    let known = [
        "unreachable",
        "busy",
        "timeout",
        "failed",
        "connecting",
        "disconnected",
        "draining",
    ];
    for (name, check) in body["checks"].as_object().expect("checks") {
        if let Some(reason) = check.get("error") {
            let reason = reason.as_str().expect("a reason");
            assert!(known.contains(&reason), "{name}: {reason}");
        }
    }
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("health: DATABASE_URL is not set; skipping");
            None
        }
    }
}

/// An engine on PostgreSQL at `url` for `adapter`, with the channel layer and the capture
/// listener on the same server.
async fn pg_engine(adapter: Adapter, url: &str) -> (Engine, Listener) {
    let pg = Pg::connect(adapter, url).await.expect("connect");
    pg.migrate(&registry()).await.expect("migrate");
    pg.install_capture(&registry()).await.expect("capture");
    let builder = Engine::builder(registry(), pg.store()).allow_anonymous(true);
    let engine = pg.layer(builder).unwrap().start().await.expect("engine");
    let listener = pg.listen(engine.clone()).unwrap();
    (engine, listener)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_is_alive_and_ready() {
    for adapter in ADAPTERS {
        let (server, addr) = Server::start(adapter, memory_engine(|b| b).await, Duration::ZERO);
        assert_eq!(get(addr, "/healthz").await, (200, json!({"status": "ok"})));
        assert_eq!(get(addr, "/readyz").await, (200, ready()), "{adapter:?}");
        let (status, body) = request(addr, "HEAD", "/readyz").await;
        assert_eq!((status, body), (200, Value::Null), "HEAD has no body");
        assert_eq!(request(addr, "POST", "/readyz").await.0, 405);
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_need_no_credentials_and_are_answered_past_max_connections() {
    for adapter in ADAPTERS {
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let engine = memory_engine(|b| b.limits(limits).allow_anonymous(false)).await;
        let (server, addr) = Server::start(adapter, engine, Duration::ZERO);
        assert_eq!(
            get(addr, "/api/todo.Task/").await.0,
            401,
            "the API wants credentials"
        );
        assert_eq!(get(addr, "/readyz").await, (200, ready()), "{adapter:?}");
        // The one place is taken by an idle connection; the next ones are past the limit. The
        // sync adapter gives a place back when the thread of the last request ends, a moment
        // after its answer, so an idle connection made in that moment is itself refused:
        // connect again until one holds the place.
        let mut held = None;
        let deadline = Instant::now() + WAIT;
        while held.is_none() && Instant::now() < deadline {
            let conn = tokio::net::TcpStream::connect(addr).await.unwrap();
            let full = until(addr, "/api/todo.Task/", Duration::from_secs(2), |s, _| {
                s == 503
            });
            if full.await.is_some() {
                held = Some(conn);
            }
        }
        assert!(held.is_some(), "{adapter:?}: the server is full");
        assert_eq!(
            get(addr, "/readyz").await,
            (200, ready()),
            "{adapter:?} when full"
        );
        assert_eq!(get(addr, "/healthz").await.0, 200);
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_is_unready_while_its_websockets_still_answer_then_closes_them() {
    for adapter in ADAPTERS {
        let engine = memory_engine(|b| b).await;
        let (server, addr) = Server::start(adapter, engine, Duration::from_secs(3));
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .unwrap();
        let hello: Value = serde_json::from_str(next(&mut ws).await.to_text().unwrap()).unwrap();
        assert_eq!(hello["event"], "hello");
        let stopping = tokio::spawn(server.shutdown());
        let (status, body) = until(addr, "/readyz", WAIT, |s, _| s == 503)
            .await
            .expect("/readyz fails while draining");
        assert_eq!(status, 503);
        assert_eq!(body["status"], "unavailable");
        assert_eq!(
            body["checks"]["shutdown"],
            json!({"ok": false, "error": "draining"})
        );
        assert_eq!(body["checks"]["store"], json!({"ok": true}));
        assert_eq!(
            get(addr, "/healthz").await.0,
            200,
            "{adapter:?}: still alive"
        );
        let search = json!({"event": "todo.Task.search#drain", "data": {}});
        ws.send(Message::text(search.to_string())).await.unwrap();
        let reply: Value = serde_json::from_str(next(&mut ws).await.to_text().unwrap()).unwrap();
        assert_eq!(
            reply["event"], "todo.Task.search#drain",
            "{adapter:?}: {reply}"
        );
        assert!(reply["data"]["rows"].is_array(), "{reply}");
        let Message::Close(Some(close)) = next(&mut ws).await else {
            panic!("{adapter:?}: not closed");
        };
        assert_eq!(u16::from(close.code), 1001, "{adapter:?}");
        tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_a_private_postgres_down_and_up() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let url = pg.url();
    for adapter in ADAPTERS {
        let (engine, listener) = pg_engine(adapter, &url).await;
        let (server, addr) = Server::start(adapter, engine, Duration::ZERO);
        let (_, body) = until(addr, "/readyz", WAIT, |s, _| s == 200)
            .await
            .unwrap_or_else(|| panic!("{adapter:?}: ready once listening"));
        assert_eq!(body, ready());

        tokio::task::block_in_place(|| pg.stop());
        let stopped = Instant::now();
        let (_, body) = until(addr, "/readyz", Duration::from_secs(1), |s, _| s == 503)
            .await
            .unwrap_or_else(|| panic!("{adapter:?}: 503 within a second of PostgreSQL stopping"));
        assert!(stopped.elapsed() < Duration::from_secs(2));
        assert_eq!(body["status"], "unavailable");
        assert_short_reasons(&body);
        // Each check that depends on the server fails in turn: the store's probe within its
        // timeout, the listener as soon as its connection drops.
        let (_, body) = until(addr, "/readyz", WAIT, |_, b| {
            b["checks"]["store"]["ok"] == false
                && b["checks"]["layer"]["ok"] == false
                && b["checks"]["capture"]["ok"] == false
        })
        .await
        .unwrap_or_else(|| panic!("{adapter:?}: every check fails"));
        assert_eq!(body["checks"]["store"]["error"], "unreachable", "{body}");
        assert_eq!(body["checks"]["capture"]["error"], "disconnected", "{body}");
        assert_eq!(body["checks"]["layer"]["error"], "disconnected", "{body}");
        assert_eq!(body["checks"]["shutdown"], json!({"ok": true}));
        assert_eq!(get(addr, "/healthz").await.0, 200, "alive all along");

        tokio::task::block_in_place(|| pg.start_again());
        let (_, body) = until(addr, "/readyz", WAIT, |s, _| s == 200)
            .await
            .unwrap_or_else(|| panic!("{adapter:?}: ready again once PostgreSQL is back"));
        assert_eq!(body, ready());
        server.shutdown().await;
        listener.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_readyz_makes_few_store_probes() {
    let Some(url) = database_url() else {
        return;
    };
    for adapter in ADAPTERS {
        let (engine, listener) = pg_engine(adapter, &url).await;
        let (server, addr) = Server::start(adapter, engine.clone(), Duration::ZERO);
        until(addr, "/readyz", WAIT, |s, _| s == 200)
            .await
            .expect("ready");
        let before = engine.store_probes();
        let started = Instant::now();
        for _ in 0..4 {
            let flood = (0..50).map(|_| tokio::spawn(get(addr, "/readyz")));
            for answer in futures_util::future::join_all(flood).await {
                assert_eq!(answer.unwrap().0, 200);
            }
        }
        let probes = engine.store_probes() - before;
        // One probe per quarter second at most (its answer stands that long), and one more
        // for the quarter the flood started in.
        let quarters = started.elapsed().as_millis() / 250 + 2;
        assert!(
            u128::from(probes) <= quarters,
            "{adapter:?}: {probes} probes for 200 requests in {:?}",
            started.elapsed()
        );
        assert!(probes < 200);
        server.shutdown().await;
        listener.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_below_a_mount_point() {
    // The async adapter's own server with a mount path...
    let engine = memory_engine(|b| b).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = chanbind_async::ServerConfig::default().mount_path("/realtime");
    let server = chanbind_async::serve(listener, engine.clone(), config).unwrap();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/realtime/readyz").await, (200, ready()));
    assert_eq!(get(addr, "/realtime/healthz").await.0, 200);
    server.shutdown().await;

    // ... and its service nested in a host's axum router.
    let service = chanbind_async::service(engine, Default::default());
    let app = axum::Router::new().nest_service("/realtime", service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let host = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(service.shutdown_on(std::future::pending::<()>()))
            .await
    });
    assert_eq!(get(addr, "/realtime/readyz").await, (200, ready()));
    assert_eq!(get(addr, "/realtime/healthz").await.0, 200);
    assert_eq!(
        get(addr, "/readyz").await.0,
        404,
        "the host's own paths are its own"
    );
    host.abort();
}
