//! The blocking PostgreSQL store (`chanbind_sync::postgres::PgStore`, on the `postgres` crate)
//! served by the tokio adapter: requests are answered, writes pushed to subscribers, on a
//! multi-threaded runtime and on a current-thread one.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails. Each test works in a schema of its own, dropped afterwards.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::Engine;
use chanbind_sync::postgres::{PgConfig, PgStore};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("blocking_store: DATABASE_URL is not set; skipping");
            None
        }
    }
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a frame within 5 s")
        .expect("the connection is open")
        .expect("a frame");
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

/// Creates, reads, searches and updates a task over a WebSocket served by the tokio adapter
/// on the blocking store, checking each reply and the push the update causes.
async fn serve_requests(test: &str) {
    let Some(url) = database_url() else { return };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let registry = Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title").required()))
        .unwrap();
    // Connecting and migrating block too; called from async code, they must not panic.
    let store = Arc::new(
        PgStore::connect(PgConfig {
            url,
            schema: Some(format!("blocking_{test}_{}_{nanos}", std::process::id())),
            pool_size: 2,
            ..Default::default()
        })
        .expect("connect to DATABASE_URL"),
    );
    store.migrate(&registry).expect("migrate");
    let outcome = tokio::spawn(exchange(registry, Arc::clone(&store))).await;
    store.drop_schema().expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn exchange(registry: Registry, store: Arc<PgStore>) {
    let engine = Engine::start(registry, store, Limits::default())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = chanbind_async::serve(listener, engine, Default::default()).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.local_addr()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    let mut ask = async |frame: Value| {
        ws.send(Message::text(frame.to_string())).await.unwrap();
        next_json(&mut ws).await
    };
    let created = ask(json!({"event": "todo.Task.create#c", "data": {"title": "t"}})).await;
    assert_eq!(
        created,
        json!({"event": "todo.Task.create#c", "data": {"success": true, "id": 1, "object": {"id": 1, "title": "t"}}})
    );
    let found =
        ask(json!({"event": "todo.Task.search#s", "data": {"filters": {"title": "t"}}})).await;
    assert_eq!(found["data"]["count"], 1, "{found}");
    assert_eq!(found["data"]["rows"], json!([{"id": 1, "title": "t"}]));
    let watched =
        ask(json!({"event": "todo.Task.retrieve#r", "data": {"id": 1, "subscribe": true}})).await;
    assert_eq!(watched["data"], json!({"id": 1, "title": "t"}), "{watched}");
    ws.send(Message::text(
        json!({"event": "todo.Task.update#u", "data": {"id": 1, "title": "u"}}).to_string(),
    ))
    .await
    .unwrap();
    let mut frames = [next_json(&mut ws).await, next_json(&mut ws).await];
    frames.sort_by_key(|f| f["event"].to_string());
    assert_eq!(frames[0]["event"], "todo.Task.retrieve#r", "{frames:?}");
    assert_eq!(frames[0]["data"]["title"], "u", "the subscriber's push");
    assert_eq!(frames[1]["event"], "todo.Task.update#u", "{frames:?}");
    assert_eq!(
        frames[1]["data"]["object"]["title"], "u",
        "the writer's reply"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_store_serves_the_tokio_adapter() {
    serve_requests("multi").await;
}

#[tokio::test]
async fn the_blocking_store_serves_the_tokio_adapter_on_one_thread() {
    serve_requests("single").await;
}
