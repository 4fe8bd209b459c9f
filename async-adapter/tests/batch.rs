//! Batches on the tokio adapter and its PostgreSQL store, over real sockets on 127.0.0.1: an
//! order with three lines saved in one batch reaches a WebSocket subscriber as four pushes
//! after the reply, a batch whose third step is invalid (or refused by PostgreSQL itself)
//! writes nothing, and `POST /api/batch` answers the same way over HTTP.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails. Each test works in a schema of its own, dropped afterwards.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_async::ServerHandle;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("batch: DATABASE_URL is not set; skipping");
            None
        }
    }
}

fn registry() -> Registry {
    Registry::new()
        .model(ModelBinding::new("shop_order").field(Field::string("title").required()))
        .unwrap()
        .model(
            ModelBinding::new("shop_line")
                .field(Field::foreign_key("order_id", "shop.Order"))
                .field(Field::integer("qty").required().min(1)),
        )
        .unwrap()
}

/// A server on a store in a schema of its own, dropped when `test` is done.
async fn with_server<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Engine, ServerHandle) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(url) = database_url() else { return };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let store = PgStore::connect(PgConfig {
        url,
        schema: Some(format!("batch_{name}_{}_{nanos}", std::process::id())),
        pool_size: 2,
        ..Default::default()
    })
    .await
    .expect("connect to DATABASE_URL");
    let registry = registry();
    store.migrate(&registry).await.expect("migrate");
    let store = Arc::new(store);
    let engine = Engine::start(registry, store.clone(), Limits::default())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = chanbind_async::serve(listener, engine.clone(), Default::default()).unwrap();
    let outcome = tokio::spawn(test(engine, server)).await;
    store.drop_schema().await.expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(server: &ServerHandle) -> Ws {
    let url = format!("ws://{}/", server.local_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    ws
}

async fn next_json(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a frame within 5 s")
        .expect("the connection is open")
        .expect("a frame");
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

async fn ask(ws: &mut Ws, frame: Value) -> Value {
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next_json(ws).await
}

/// `POST path` with a JSON body; the status and the body.
async fn post(server: &ServerHandle, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

fn order_with_lines(third: Value) -> Value {
    json!({"steps": [
        {"event": "shop.Order.create", "data": {"title": "o"}},
        {"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 1}},
        third,
        {"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 3}},
    ]})
}

fn good_third() -> Value {
    json!({"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 2}})
}

async fn count(ws: &mut Ws, stream: &str) -> Value {
    let list = json!({"event": format!("{stream}.list"), "data": {"subscribe": false}});
    ask(ws, list).await["data"]["count"].clone()
}

#[tokio::test]
async fn an_order_with_three_lines_is_four_pushes_after_one_commit() {
    with_server("ws", |_engine, server| async move {
        let mut watcher = connect(&server).await;
        for stream in ["shop.Order", "shop.Line"] {
            let sub = json!({"event": format!("{stream}.subscribe"), "data": {}});
            assert_eq!(ask(&mut watcher, sub).await["data"]["success"], true);
        }
        let mut writer = connect(&server).await;
        let batch = json!({"event": "batch#order", "data": order_with_lines(good_third())});
        let reply = ask(&mut writer, batch).await;
        assert_eq!(reply["event"], "batch#order", "{reply}");
        let results = reply["data"]["results"].as_array().expect("results");
        let order_id = &results[0]["id"];
        for line in &results[1..] {
            assert_eq!(&line["object"]["order_id"], order_id, "{reply}");
        }
        let mut pushed = Vec::new();
        for _ in 0..4 {
            pushed.push(next_json(&mut watcher).await);
        }
        let orders = pushed.iter().filter(|p| p["event"] == "shop.Order.created");
        let lines = pushed.iter().filter(|p| p["event"] == "shop.Line.created");
        assert_eq!((orders.count(), lines.count()), (1, 3), "{pushed:?}");
        assert_eq!(count(&mut writer, "shop.Line").await, 3);
    })
    .await
}

#[tokio::test]
async fn a_batch_whose_third_step_fails_writes_nothing() {
    with_server("bad", |_engine, server| async move {
        let mut ws = connect(&server).await;
        // Refused by validation before the store, and by PostgreSQL's foreign key inside
        // the transaction, after two inserts.
        let invalid =
            json!({"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 0}});
        let missing = json!({"event": "shop.Line.create", "data": {"order_id": 999, "qty": 2}});
        for (third, code) in [(invalid, "invalid"), (missing, "conflict")] {
            let batch = json!({"event": "batch", "data": order_with_lines(third)});
            let reply = ask(&mut ws, batch).await;
            assert_eq!(reply["error"]["code"], code, "{reply}");
            assert_eq!(reply["error"]["step"], 2, "{reply}");
            assert_eq!(count(&mut ws, "shop.Order").await, 0, "nothing written");
            assert_eq!(count(&mut ws, "shop.Line").await, 0, "nothing written");
        }
        // The connection and the pool go on.
        let batch = json!({"event": "batch", "data": order_with_lines(good_third())});
        assert_eq!(ask(&mut ws, batch).await["data"]["success"], true);
        assert_eq!(count(&mut ws, "shop.Line").await, 3);
    })
    .await
}

#[tokio::test]
async fn post_api_batch_answers_results_or_the_failing_step() {
    with_server("http", |_engine, server| async move {
        let bad = order_with_lines(json!({"event": "shop.Line.search", "data": {}}));
        let (status, body) = post(&server, "/api/batch", &bad).await;
        assert_eq!(
            (status, &body["code"], &body["step"]),
            (400, &json!("bad_request"), &json!(2)),
            "{body}"
        );
        let missing = json!({"event": "shop.Line.create", "data": {"order_id": 999, "qty": 2}});
        let (status, body) = post(&server, "/api/batch", &order_with_lines(missing)).await;
        assert_eq!((status, &body["step"]), (409, &json!(2)), "{body}");
        let (status, body) = post(&server, "/api/batch", &order_with_lines(good_third())).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["results"].as_array().map(Vec::len), Some(4), "{body}");
        let mut ws = connect(&server).await;
        assert_eq!(count(&mut ws, "shop.Order").await, 1);
        assert_eq!(count(&mut ws, "shop.Line").await, 3);
    })
    .await
}
