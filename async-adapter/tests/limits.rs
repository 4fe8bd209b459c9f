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
