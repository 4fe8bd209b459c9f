//! The tokio server over real sockets on 127.0.0.1: hello, the endpoint path, and graceful
//! shutdown.

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

async fn start() -> chanbind_async::ServerHandle {
    let registry = Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title").required()))
        .unwrap();
    let store = Arc::new(MemoryStore::new(&registry));
    let engine = Engine::start(registry, store, Limits::default())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    chanbind_async::serve(listener, engine, Default::default()).unwrap()
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

#[tokio::test]
async fn hello_comes_first_and_requests_are_answered() {
    let server = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.local_addr()))
        .await
        .unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["data"]["protocol"], 1);
    assert_eq!(hello["data"]["user"], Value::Null);
    assert_eq!(hello["data"]["limits"]["max_message_bytes"], 1048576);
    ws.send(Message::text(
        json!({"event": "todo.Task.create#c", "data": {"title": "t"}}).to_string(),
    ))
    .await
    .unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(
        reply,
        json!({"event": "todo.Task.create#c", "data": {"success": true, "id": 1, "object": {"id": 1, "title": "t"}}})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn other_paths_are_not_websocket_endpoints() {
    let server = start().await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/elsewhere", server.local_addr()))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 404),
        other => panic!("expected a 404, got {other}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_going_away() {
    let server = start().await;
    let url = format!("ws://{}/", server.local_addr());
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        next_json(&mut ws).await;
        clients.push(ws);
    }
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown finishes");
    for mut ws in clients {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match msg {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "nothing listens any more"
    );
}
