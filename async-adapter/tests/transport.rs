//! The WebSocket transport over real sockets, as the sync adapter's suite checks it too:
//! heartbeats and the idle close, slow consumers, and protocol violations.

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::store::MemoryStore;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn start_with(limits: Limits) -> (chanbind_async::ServerHandle, Engine) {
    let registry = Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title").required()))
        .unwrap();
    let store = Arc::new(MemoryStore::new(&registry));
    let engine = Engine::start(registry, store, limits).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = chanbind_async::serve(listener, engine.clone(), Default::default()).unwrap();
    (server, engine)
}

/// Pings every 100 ms, closes after 300 ms of silence.
fn heartbeat_limits() -> Limits {
    Limits {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

async fn connect(server: &chanbind_async::ServerHandle) -> Client {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.local_addr()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    ws
}

/// The next text frame as JSON, skipping pings.
async fn next_json(ws: &mut Client) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
            .expect("a frame")
            .unwrap();
        match msg {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads until the close frame, skipping the rest; its code.
async fn close_code(ws: &mut Client) -> u16 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the close in time")
            .expect("a close frame")
            .unwrap();
        if let Message::Close(frame) = msg {
            return frame.map(|f| u16::from(f.code)).expect("a close code");
        }
    }
}

async fn request(ws: &mut Client, frame: Value) -> Value {
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next_json(ws).await
}

#[tokio::test]
async fn a_client_that_answers_no_ping_is_closed_with_4000() {
    let (server, _) = start_with(heartbeat_limits()).await;
    let mut ws = connect(&server).await;
    // Not reading: tungstenite answers pings only as it reads.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(close_code(&mut ws).await, 4000);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_open_past_the_idle_timeout() {
    let (server, _) = start_with(heartbeat_limits()).await;
    let mut ws = connect(&server).await;
    let mut pings = 0;
    let listen = async {
        while let Some(msg) = ws.next().await {
            match msg.unwrap() {
                Message::Ping(_) => pings += 1,
                other => panic!("expected only pings, got {other:?}"),
            }
        }
        panic!("the connection ended");
    };
    let _ = tokio::time::timeout(Duration::from_millis(1000), listen).await;
    assert!(pings >= 3, "pings every 100 ms, got {pings} in a second");
    let reply = request(&mut ws, json!({"event": "todo.Task.list"})).await;
    assert_eq!(reply["data"]["count"], 0, "{reply}");
    server.shutdown().await;
}

/// A client that stops reading while pushes flood it is closed with 4008, even though its
/// socket takes nothing, and what it sends after it was found slow is not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_with_4008_and_its_later_writes_are_not_applied() {
    let (server, engine) = start_with(Limits {
        outbound_queue: 8,
        ..Limits::default()
    })
    .await;
    let mut writer = connect(&server).await;
    let created = request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "start"}}),
    )
    .await;
    assert_eq!(created["data"]["success"], true, "{created}");
    let mut slow = connect(&server).await;
    let reply = request(
        &mut slow,
        json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
    )
    .await;
    assert!(reply.get("error").is_none(), "{reply}");
    // `slow` reads nothing from here; large rows fill the socket buffers quickly.
    let padding = "x".repeat(32 * 1024);
    let mut updates = 0;
    while engine.stats().pushes_refused == 0 {
        assert!(updates < 5000, "the slow client was never found slow");
        updates += 1;
        let reply = request(
            &mut writer,
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{updates}{padding}")}}),
        )
        .await;
        assert_eq!(reply["data"]["success"], true);
    }
    slow.send(Message::text(
        json!({"event": "todo.Task.create", "data": {"title": "after slow"}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut slow).await, 4008);
    drop(slow);
    let list = request(&mut writer, json!({"event": "todo.Task.list"})).await;
    assert_eq!(
        list["data"]["count"], 1,
        "the write sent after the client was found slow was not applied"
    );
    server.shutdown().await;
}
