//! The tokio server over real sockets on 127.0.0.1: hello, the endpoint path, graceful
//! shutdown, and clients that stop reading.

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
    start_with(Limits::default()).await.0
}

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

/// A client that stops reading first has its superseded pushes merged: one watching a row only
/// ever waits for that row's latest state and is never closed. A client whose pushes cannot
/// be merged (a change feed: each event says what happened) is closed with 4008.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_merged_then_closed_with_4008() {
    let (server, engine) = start_with(Limits {
        outbound_queue: 8,
        ..Limits::default()
    })
    .await;
    let url = format!("ws://{}/", server.local_addr());
    let mut clients = Vec::new();
    for request in [
        json!({"event": "todo.Task.create", "data": {"title": "start"}}),
        json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
        json!({"event": "todo.Task.retrieve", "data": {"id": 1}}),
    ] {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        next_json(&mut ws).await;
        ws.send(Message::text(request.to_string())).await.unwrap();
        let reply = next_json(&mut ws).await;
        assert!(reply.get("error").is_none(), "{reply}");
        clients.push(ws);
    }
    let (mut writer, mut slow, mut lagging) = {
        let mut c = clients.into_iter();
        (c.next().unwrap(), c.next().unwrap(), c.next().unwrap())
    };
    // Large rows fill the socket buffers quickly; go on until the server gave up on `slow`,
    // then more, so `lagging`'s queue merges for sure.
    let padding = "x".repeat(32 * 1024);
    let (mut updates, mut after) = (0usize, 0);
    while after < 50 {
        assert!(updates < 5000, "the slow client was never closed");
        if engine.stats().pushes_refused > 0 {
            after += 1;
        }
        updates += 1;
        let title = if after == 50 {
            format!("{padding}last")
        } else {
            format!("{updates}{padding}")
        };
        writer
            .send(Message::text(
                json!({"event": "todo.Task.update", "data": {"id": 1, "title": title}}).to_string(),
            ))
            .await
            .unwrap();
        assert_eq!(next_json(&mut writer).await["data"]["success"], true);
    }
    // The slow client finds its pushes, then the close.
    let code = loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), slow.next())
            .await
            .expect("the close in time")
            .expect("a close frame")
            .unwrap();
        if let Message::Close(frame) = msg {
            break frame.map(|f| u16::from(f.code));
        }
    };
    assert_eq!(code, Some(4008));
    // The lagging one finds fewer pushes than updates, in order, ending on the last state,
    // and is still served.
    let mut pushes = 0;
    let mut previous = 0usize;
    loop {
        let push = next_json(&mut lagging).await;
        assert_eq!(push["event"], "todo.Task.retrieve", "{push}");
        pushes += 1;
        let title = push["data"]["title"].as_str().unwrap();
        if title.ends_with("last") {
            break;
        }
        let n: usize = title.trim_end_matches('x').parse().unwrap();
        assert!(n > previous, "states arrive in order: {n} after {previous}");
        previous = n;
    }
    assert!(
        pushes < updates,
        "superseded pushes were merged: {pushes} pushes for {updates} updates"
    );
    lagging
        .send(Message::text(
            json!({"event": "todo.Task.list"}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut lagging).await["data"]["count"], 1);
    server.shutdown().await;
}
