//! `GET /metrics` on the sync adapter (docs/protocol.md section 6, "Metrics"), scraped over
//! HTTP after real WebSocket and HTTP traffic, as the async adapter's `tests/metrics.rs` does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::config::Limits;
use chanbind_engine::EngineBuilder;
use chanbind_sync::ServerConfig;
use serde_json::json;

use crate::common::{self, close_code, next, request, try_connect, Client, TestServer};

const TOKEN: &str = "metrics-secret";

fn authenticated(builder: EngineBuilder) -> EngineBuilder {
    builder
        .authenticator(TokenAuthenticator::new().token(TOKEN, User::new(1, "ada")))
        .allow_anonymous(false)
}

fn start(limits: Limits, metrics: bool) -> TestServer {
    let builder = authenticated(common::builder(limits));
    common::start_with(builder, ServerConfig::default().metrics(metrics))
}

fn connect(addr: SocketAddr) -> Client {
    let mut ws = try_connect(addr, "/", Some(TOKEN)).unwrap();
    assert_eq!(next(&mut ws)["event"], "hello");
    ws
}

/// One raw HTTP/1.1 exchange: the status and the body.
fn http(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
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

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http(addr, "GET /metrics HTTP/1.1");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("# EOF"), "{body}");
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

/// Scrapes until `check` holds, for 10 s at most.
fn eventually(addr: SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(addr);
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn requests_connections_and_refusals_show_in_metrics() {
    let server = start(Limits::default(), true);
    let addr = server.addr();
    let mut ws = connect(addr);
    let text = scrape(addr);
    assert_eq!(
        value(&text, "chanbind_connections", &[("adapter", "sync")]),
        Some(1.0),
        "{text}"
    );
    let created = request(
        &mut ws,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    );
    assert_eq!(created["data"]["success"], true, "{created}");
    let missing = request(
        &mut ws,
        json!({"event": "todo.Task.retrieve", "data": {"id": 99}}),
    );
    assert_eq!(missing["error"]["code"], "not_found", "{missing}");
    let unknown = request(
        &mut ws,
        json!({"event": "hostile.Stream9.retrieve", "data": {}}),
    );
    assert_eq!(unknown["error"]["code"], "unknown_event", "{unknown}");
    let (status, body) = http(
        addr,
        &format!("GET /api/todo.Task/1?token={TOKEN} HTTP/1.1"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        try_connect(addr, "/", None).is_err(),
        "a handshake without a token"
    );

    let text = scrape(addr);
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
            &[("stream", "unknown"), ("code", "unknown_event")]
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
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    eventually(addr, "the connection to be gone", |t| {
        value(t, "chanbind_connections", &[("adapter", "sync")]) == Some(0.0)
    });
    server.server.shutdown();
}

#[test]
fn metrics_are_404_unless_enabled() {
    let server = start(Limits::default(), false);
    assert_eq!(http(server.addr(), "GET /metrics HTTP/1.1").0, 404);
    server.server.shutdown();
}

/// A client that subscribes and stops reading is closed with 4008, and the close is counted.
#[test]
fn a_slow_consumer_counts_as_a_4008_close() {
    let limits = Limits {
        outbound_queue_bytes: 256 * 1024,
        ..Limits::default()
    };
    let server = start(limits, true);
    let addr = server.addr();
    let engine = server.engine();
    let mut writer = connect(addr);
    let mut slow = connect(addr);
    let created = request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "s"}}),
    );
    assert_eq!(created["data"]["success"], true);
    let subscribed = request(
        &mut slow,
        json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
    );
    assert!(subscribed.get("error").is_none(), "{subscribed}");
    let padding = "x".repeat(64 * 1024);
    let mut updates = 0;
    while engine.stats().pushes_refused == 0 {
        assert!(updates < 400, "never slow");
        updates += 1;
        let update = json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{updates}{padding}")}});
        assert_eq!(request(&mut writer, update)["data"]["success"], true);
    }
    assert_eq!(close_code(&mut slow), 4008);
    let text = eventually(addr, "the 4008 close", |t| {
        value(t, "chanbind_connections_closed_total", &[("code", "4008")]) == Some(1.0)
    });
    assert!(value(&text, "chanbind_pushes_refused_total", &[]).unwrap() >= 1.0);
    eventually(addr, "the queue to drain", |t| {
        value(t, "chanbind_outbound_queue_frames", &[]) == Some(0.0)
    });
    server.server.shutdown();
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_shows_its_pool_and_notification_queue() {
    use std::sync::Arc;

    use chanbind_engine::Engine;
    use chanbind_sync::postgres::{PgConfig, PgStore};
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("DATABASE_URL is not set under CI")
        }
        _ => {
            eprintln!("NOTICE: the metrics PostgreSQL test skipped: DATABASE_URL is not set");
            return;
        }
    };
    let schema = format!("sync_metrics_{}", std::process::id());
    let store = PgStore::connect(PgConfig {
        url,
        schema: Some(schema),
        pool_size: 3,
        ..Default::default()
    })
    .unwrap();
    store.migrate(&common::registry()).unwrap();
    let store = Arc::new(store);
    let builder = authenticated(Engine::builder(common::registry(), store.clone()));
    let server = common::start_with(builder, ServerConfig::default().metrics(true));
    let addr = server.addr();
    let mut ws = connect(addr);
    let created = request(
        &mut ws,
        json!({"event": "todo.Task.create", "data": {"title": "pg"}}),
    );
    assert_eq!(created["data"]["success"], true, "{created}");
    let text = eventually(addr, "the notification queue's sample", |t| {
        value(t, "chanbind_pg_notification_queue_usage", &[]).is_some()
    });
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
    drop(ws);
    server.server.shutdown();
    if let Err(e) = store.drop_schema() {
        eprintln!("cannot drop the test schema: {e}");
    }
}
