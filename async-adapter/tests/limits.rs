//! The bounds a client cannot push the async adapter past: bytes queued for a client that
//! stops reading, and (with the engine's limits) what its subscriptions hold.

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::store::MemoryStore;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

async fn start_with(limits: Limits) -> (chanbind_async::ServerHandle, Engine) {
    let registry = Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title").required()))
        .unwrap();
    let store = Arc::new(MemoryStore::new(&registry));
    let engine = Engine::builder(registry, store)
        .limits(limits)
        .allow_anonymous(true)
        .start()
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = chanbind_async::serve(listener, engine.clone(), Default::default()).unwrap();
    (server, engine)
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

/// A client that stops reading a change feed of large rows is declared slow once its queue
/// holds `outbound_queue_bytes`, long before it holds `outbound_queue` frames: 400 updates of
/// 64 KiB (25 MiB, far more than socket buffers take) against a 256 KiB bound. Without the
/// byte bound the queue would take 1,024 of them (64 MiB) before refusing any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_pins_at_most_outbound_queue_bytes() {
    let (server, engine) = start_with(Limits {
        outbound_queue_bytes: 256 * 1024,
        ..Limits::default()
    })
    .await;
    let url = format!("ws://{}/", server.local_addr());
    let (mut writer, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    next_json(&mut writer).await;
    next_json(&mut slow).await;
    for (ws, request) in [
        (
            &mut writer,
            json!({"event": "todo.Task.create", "data": {"title": "start"}}),
        ),
        (
            &mut slow,
            json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
        ),
    ] {
        ws.send(Message::text(request.to_string())).await.unwrap();
        let reply = next_json(ws).await;
        assert!(reply.get("error").is_none(), "{reply}");
    }
    let padding = "x".repeat(64 * 1024);
    let mut updates = 0;
    while engine.stats().pushes_refused == 0 {
        assert!(
            updates < 400,
            "25 MiB queued for a client that reads nothing, and it is still not slow"
        );
        updates += 1;
        let update = json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{updates}{padding}")}});
        writer
            .send(Message::text(update.to_string()))
            .await
            .unwrap();
        assert_eq!(next_json(&mut writer).await["data"]["success"], true);
    }
    let code = loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), slow.next())
            .await
            .expect("the close in time")
            .expect("a close frame")
            .unwrap();
        if let Message::Close(frame) = msg {
            break frame.map(|f| u16::from(f.code));
        }
    };
    assert_eq!(code, Some(4008));
    server.shutdown().await;
}

/// The status line's code of a raw HTTP exchange on a connection of its own.
async fn raw_status(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

const GET_TASKS: &str = "GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Past `max_connections` a new connection is answered with 503 and closed; those already
/// open are served as before, and a place freed is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_a_new_connection_gets_503() {
    let (server, engine) = start_with(Limits {
        max_connections: 2,
        ..Limits::default()
    })
    .await;
    let url = format!("ws://{}/", server.local_addr());
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    next_json(&mut first).await;
    let (status, text) = raw_status(server.local_addr(), GET_TASKS).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("\"code\":\"unavailable\""), "{text}");
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "a third WebSocket is refused too"
    );
    first
        .send(Message::text(
            json!({"event": "todo.Task.create", "data": {"title": "still served"}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut first).await["data"]["success"], true);
    drop(second);
    let mut freed = false;
    for _ in 0..100 {
        if engine.open_connections() < 2 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "the closed connection gave its place back");
    assert_eq!(raw_status(server.local_addr(), GET_TASKS).await.0, 200);
    server.shutdown().await;
}

/// Past `max_connections_per_user` one address (anonymous clients) gets 503 for a new
/// WebSocket, while HTTP requests and other users are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_per_address_limit_a_handshake_gets_503() {
    let (server, _engine) = start_with(Limits {
        max_connections_per_user: 2,
        ..Limits::default()
    })
    .await;
    let url = format!("ws://{}/", server.local_addr());
    let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (_b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {other:?}"),
    }
    assert_eq!(raw_status(server.local_addr(), GET_TASKS).await.0, 200);
    next_json(&mut a).await;
    a.close(None).await.unwrap();
    while a.next().await.is_some() {}
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reopened.is_some(), "the closed socket gave its place back");
    server.shutdown().await;
}

/// Past `request_burst` at `requests_per_second`, requests are answered with `rate_limited`
/// and not run; the connection stays open and is served again once the bucket refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_requests_gets_rate_limited_and_the_connection_stays_open() {
    let (server, _engine) = start_with(Limits {
        requests_per_second: 5,
        request_burst: 5,
        ..Limits::default()
    })
    .await;
    let url = format!("ws://{}/", server.local_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    next_json(&mut ws).await;
    for i in 0..20 {
        let create = json!({"event": "todo.Task.create", "data": {"title": format!("t{i}")}});
        ws.send(Message::text(create.to_string())).await.unwrap();
    }
    let mut created = 0;
    let mut limited = 0;
    for _ in 0..20 {
        let reply = next_json(&mut ws).await;
        match reply["error"]["code"].as_str() {
            None => created += 1,
            Some("rate_limited") => limited += 1,
            Some(other) => panic!("unexpected error {other}: {reply}"),
        }
    }
    assert!(limited >= 10, "{limited} of 20 refused");
    tokio::time::sleep(Duration::from_millis(400)).await;
    ws.send(Message::text(
        json!({"event": "todo.Task.list", "data": {}}).to_string(),
    ))
    .await
    .unwrap();
    let list = next_json(&mut ws).await;
    assert_eq!(
        list["data"]["count"], created,
        "exactly the requests answered were run: {list}"
    );
    // Over HTTP the bucket per address (a burst of 4: twice its rate) answers 429 with
    // Retry-After.
    let (server, _engine) = start_with(Limits {
        user_requests_per_second: 2,
        request_burst: 2,
        ..Limits::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(raw_status(server.local_addr(), GET_TASKS).await);
    }
    assert_eq!(statuses[0].0, 200);
    let (status, text) = statuses.last().unwrap();
    assert_eq!(*status, 429, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert!(text.contains("rate_limited"), "{text}");
}
