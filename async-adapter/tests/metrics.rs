//! `GET /metrics` on the async adapter (docs/protocol.md section 6, "Metrics"), scraped over
//! HTTP after real WebSocket and HTTP traffic: requests by stream, action and code, latency,
//! open connections, refused handshakes, slow consumers, unknown streams, and with
//! PostgreSQL the pool and the notification queue.
//!
//! ```text
//! cargo test -p chanbind-async --test metrics
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test cargo test -p chanbind-async --test metrics
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_async::ServerConfig;
use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "metrics-secret";

fn registry() -> Registry {
    Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title").required()))
        .unwrap()
}

async fn serve(
    store: Arc<dyn Store>,
    limits: Limits,
    metrics: bool,
) -> (chanbind_async::ServerHandle, Engine) {
    let engine = Engine::builder(registry(), store)
        .limits(limits)
        .authenticator(TokenAuthenticator::new().token(TOKEN, User::new(1, "ada")))
        .start()
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig::default().metrics(metrics);
    let server = chanbind_async::serve(listener, engine.clone(), config).unwrap();
    (server, engine)
}

async fn memory(limits: Limits, metrics: bool) -> (chanbind_async::ServerHandle, Engine) {
    let store = Arc::new(MemoryStore::new(&registry()));
    serve(store, limits, metrics).await
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket with the token, past its `hello`.
async fn connect(addr: SocketAddr) -> Ws {
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    ws
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("a frame")
            .unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn request(ws: &mut Ws, frame: Value) -> Value {
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next_json(ws).await
}

/// One raw HTTP/1.1 exchange: the status and the body.
async fn http(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http(addr, "GET /metrics HTTP/1.1").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    body
}

/// The value of the series `name` whose labels include every one of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
            if series_name != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse().ok()).flatten()
        })
}

/// Scrapes until `check` holds on the text, for 10 s at most.
async fn eventually(addr: SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(addr).await;
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_connections_and_refusals_show_in_metrics() {
    let (server, _engine) = memory(Limits::default(), true).await;
    let addr = server.local_addr();
    let mut ws = connect(addr).await;
    let text = scrape(addr).await;
    assert_eq!(
        value(&text, "chanbind_connections", &[("adapter", "async")]),
        Some(1.0)
    );

    let created = request(
        &mut ws,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    assert_eq!(created["data"]["success"], true, "{created}");
    let missing = request(
        &mut ws,
        json!({"event": "todo.Task.retrieve", "data": {"id": 99}}),
    )
    .await;
    assert_eq!(missing["error"]["code"], "not_found", "{missing}");
    let unknown = request(
        &mut ws,
        json!({"event": "hostile.Stream9.retrieve", "data": {}}),
    )
    .await;
    assert_eq!(unknown["error"]["code"], "unknown_event", "{unknown}");
    let (status, body) = http(
        addr,
        &format!("GET /api/todo.Task/1?token={TOKEN} HTTP/1.1"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A handshake without a credential: 401.
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await;
    assert!(refused.is_err());

    let text = scrape(addr).await;
    let requests = |action: &str, code: &str| {
        value(
            &text,
            "chanbind_requests_total",
            &[("stream", "todo.Task"), ("action", action), ("code", code)],
        )
    };
    assert_eq!(requests("create", "ok"), Some(1.0), "{text}");
    assert_eq!(requests("retrieve", "not_found"), Some(1.0), "{text}");
    assert_eq!(
        requests("retrieve", "ok"),
        Some(1.0),
        "the HTTP retrieve: {text}"
    );
    assert_eq!(
        value(
            &text,
            "chanbind_request_duration_seconds_count",
            &[("stream", "todo.Task"), ("action", "retrieve")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "chanbind_requests_total",
            &[
                ("stream", "unknown"),
                ("action", "unknown"),
                ("code", "unknown_event")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("hostile"),
        "an unknown stream made a series: {text}"
    );
    assert_eq!(
        value(
            &text,
            "chanbind_handshakes_refused_total",
            &[("reason", "unauthenticated")]
        ),
        Some(1.0),
        "{text}"
    );

    ws.close(None).await.unwrap();
    eventually(addr, "the connection to be gone", |t| {
        value(t, "chanbind_connections", &[("adapter", "async")]) == Some(0.0)
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_404_unless_enabled() {
    let (server, _engine) = memory(Limits::default(), false).await;
    let (status, _) = http(server.local_addr(), "GET /metrics HTTP/1.1").await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

/// A client that subscribes and stops reading is closed with 4008, and the close is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_counts_as_a_4008_close() {
    let limits = Limits {
        outbound_queue_bytes: 256 * 1024,
        ..Limits::default()
    };
    let (server, engine) = memory(limits, true).await;
    let addr = server.local_addr();
    let mut writer = connect(addr).await;
    let mut slow = connect(addr).await;
    let created = request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "s"}}),
    )
    .await;
    assert_eq!(created["data"]["success"], true);
    let subscribed = request(
        &mut slow,
        json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
    )
    .await;
    assert!(subscribed.get("error").is_none(), "{subscribed}");
    let padding = "x".repeat(64 * 1024);
    let mut updates = 0;
    while engine.stats().pushes_refused == 0 {
        assert!(updates < 400, "never slow");
        updates += 1;
        let update = json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{updates}{padding}")}});
        assert_eq!(request(&mut writer, update).await["data"]["success"], true);
    }
    let text = eventually(addr, "the 4008 close", |t| {
        value(t, "chanbind_connections_closed_total", &[("code", "4008")]) == Some(1.0)
    })
    .await;
    assert!(value(&text, "chanbind_pushes_refused_total", &[]).unwrap() >= 1.0);
    assert!(value(&text, "chanbind_pushes_delivered_total", &[]).unwrap() >= 1.0);
    // The slow client's queue is gone with it.
    eventually(addr, "the queue to drain", |t| {
        value(t, "chanbind_outbound_queue_frames", &[]) == Some(0.0)
    })
    .await;
    drop(slow);
    server.shutdown().await;
}

#[cfg(feature = "postgres")]
fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("metrics: DATABASE_URL is not set; skipping");
            None
        }
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_shows_its_pool_and_notification_queue() {
    use chanbind_async::postgres::{PgConfig, PgStore};
    let Some(url) = database_url() else { return };
    let schema = format!("metrics_async_{}", std::process::id());
    let store = PgStore::connect(PgConfig {
        url: url.clone(),
        schema: Some(schema.clone()),
        pool_size: 3,
        ..Default::default()
    })
    .await
    .expect("connect");
    store.migrate(&registry()).await.expect("migrate");
    let (server, _engine) = serve(Arc::new(store), Limits::default(), true).await;
    let addr = server.local_addr();
    let mut ws = connect(addr).await;
    let created = request(
        &mut ws,
        json!({"event": "todo.Task.create", "data": {"title": "pg"}}),
    )
    .await;
    assert_eq!(created["data"]["success"], true, "{created}");
    let text = eventually(addr, "the notification queue's sample", |t| {
        value(t, "chanbind_pg_notification_queue_usage", &[]).is_some()
    })
    .await;
    assert_eq!(
        value(&text, "chanbind_store_pool_size", &[]),
        Some(3.0),
        "{text}"
    );
    assert!(
        value(&text, "chanbind_store_pool_in_use", &[]).is_some(),
        "{text}"
    );
    assert!(
        value(&text, "chanbind_store_pool_waiting", &[]).is_some(),
        "{text}"
    );
    let usage = value(&text, "chanbind_pg_notification_queue_usage", &[]).unwrap();
    assert!((0.0..=1.0).contains(&usage), "{usage}");
    server.shutdown().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
