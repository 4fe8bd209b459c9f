//! Version checks on the tokio adapter over real sockets on 127.0.0.1, on the in-memory store
//! and on PostgreSQL: `if_version` over the WebSocket, `ETag`, `If-Match` and 412 over HTTP,
//! and two servers on one database racing one stale version (one write wins, one conflicts).
//!
//! The PostgreSQL tests need `DATABASE_URL`; without it they print a notice and pass, except
//! under `CI=true`, where they fail.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::text("title").not_null())
                .field(Field::integer("version"))
                .version("version"),
        )
        .unwrap()
        .model(
            ModelBinding::new("todo_note")
                .field(Field::text("body"))
                .field(Field::datetime("updated_at"))
                .version("updated_at"),
        )
        .unwrap()
}

async fn start(store: Arc<dyn Store>) -> chanbind_async::ServerHandle {
    let engine = Engine::builder(registry(), store)
        .allow_anonymous(true)
        .start()
        .await
        .unwrap();
    chanbind_async::bind("127.0.0.1:0", engine, Default::default())
        .await
        .unwrap()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(server: &chanbind_async::ServerHandle) -> Ws {
    let url = format!("ws://{}/", server.local_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(next(&mut ws).await["event"], "hello");
    ws
}

async fn next(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a frame within 5s")
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

async fn ask(ws: &mut Ws, frame: Value) -> Value {
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next(ws).await
}

/// `method path` with an optional `If-Match` and JSON body: the status, headers and body.
async fn http(
    server: &chanbind_async::ServerHandle,
    method: Method,
    path: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", server.local_addr().to_string())
        .header("content-type", "application/json");
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let request = request
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let raw = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&raw).unwrap_or(Value::Null),
    )
}

/// What a user of either store sees: a stale WebSocket write conflicts with the current row,
/// HTTP reads carry the version as `ETag`, and a stale `If-Match` is a 412.
async fn versions_are_checked(store: Arc<dyn Store>) {
    let server = start(store).await;
    let mut ws = connect(&server).await;
    let made = ask(
        &mut ws,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    assert_eq!(
        made["data"]["object"],
        json!({"id": 1, "title": "a", "version": 1})
    );
    let moved = ask(
        &mut ws,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "b", "if_version": 1}}),
    )
    .await;
    assert_eq!(moved["data"]["object"]["version"], 2, "{moved}");
    let stale = ask(
        &mut ws,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "c", "if_version": 1}}),
    )
    .await;
    assert_eq!(stale["error"]["code"], "conflict");
    assert_eq!(
        stale["error"]["object"],
        json!({"id": 1, "title": "b", "version": 2})
    );

    let (status, headers, row) = http(&server, Method::GET, "/api/todo.Task/1", None, None).await;
    assert_eq!(
        (status, &headers["etag"]),
        (200, &"\"2\"".parse().unwrap()),
        "{row}"
    );
    let (status, headers, body) = http(
        &server,
        Method::PATCH,
        "/api/todo.Task/1",
        Some("\"2\""),
        Some(json!({"title": "d"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["etag"], "\"3\"");
    let (status, _, body) = http(
        &server,
        Method::PUT,
        "/api/todo.Task/1",
        Some("\"2\""),
        Some(json!({"title": "e"})),
    )
    .await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["code"], "conflict");
    assert_eq!(body["object"], json!({"id": 1, "title": "d", "version": 3}));
    let (status, _, body) = http(
        &server,
        Method::DELETE,
        "/api/todo.Task/1",
        Some("\"2\""),
        None,
    )
    .await;
    assert_eq!((status, &body["object"]["title"]), (412, &json!("d")));
    let (status, _, body) = http(
        &server,
        Method::DELETE,
        "/api/todo.Task/1",
        Some("W/\"3\""),
        None,
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (400, &json!("bad_request")),
        "a weak tag never matches"
    );
    let (status, _, _) = http(
        &server,
        Method::DELETE,
        "/api/todo.Task/1",
        Some("\"3\""),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = http(&server, Method::GET, "/api/todo.Task/1", None, None).await;
    assert_eq!(status, 404);

    // A timestamp version: the ETag is the write's time, checked to the microsecond.
    let (status, headers, note) = http(
        &server,
        Method::POST,
        "/api/todo.Note/",
        None,
        Some(json!({"body": "x"})),
    )
    .await;
    let first = note["object"]["updated_at"].as_str().unwrap().to_owned();
    assert_eq!(status, 201);
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        format!("\"{first}\""),
        "a create's ETag"
    );
    let (_, headers, _) = http(&server, Method::GET, "/api/todo.Note/", None, None).await;
    assert!(headers.get("etag").is_none(), "a page has no ETag");
    let (_, headers, _) = http(&server, Method::GET, "/api/todo.Note/1", None, None).await;
    assert_eq!(headers["etag"].to_str().unwrap(), format!("\"{first}\""));
    let tag = format!("\"{first}\"");
    let (status, _, _) = http(
        &server,
        Method::PATCH,
        "/api/todo.Note/1",
        Some(&tag),
        Some(json!({"body": "y"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = http(
        &server,
        Method::PATCH,
        "/api/todo.Note/1",
        Some(&tag),
        Some(json!({"body": "z"})),
    )
    .await;
    assert_eq!((status, &body["object"]["body"]), (412, &json!("y")));
    server.shutdown().await;
}

#[tokio::test]
async fn on_the_memory_store_versions_are_checked() {
    versions_are_checked(Arc::new(MemoryStore::new(&registry()))).await;
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("version: DATABASE_URL is not set; skipping");
            None
        }
    }
}

async fn pg_store(url: &str, tag: &str) -> Arc<PgStore> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let config = PgConfig {
        url: url.to_owned(),
        schema: Some(format!("version_{tag}_{}_{nanos}", std::process::id())),
        pool_size: 4,
        ..Default::default()
    };
    let store = Arc::new(PgStore::connect(config).await.expect("connect"));
    store.migrate(&registry()).await.expect("migrate");
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_versions_are_checked() {
    let Some(url) = database_url() else { return };
    let store = pg_store(&url, "checked").await;
    let outcome = tokio::spawn(versions_are_checked(store.clone() as Arc<dyn Store>)).await;
    store.drop_schema().await.expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Two servers (each with its own row locks) on one database write one row from the same
/// version: the store's own statement decides, so exactly one write applies.
#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_two_servers_racing_one_version_make_one_write() {
    let Some(url) = database_url() else { return };
    let store = pg_store(&url, "race").await;
    let outcome = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            let (one, two) = (start(store.clone()).await, start(store).await);
            let (mut a, mut b) = (connect(&one).await, connect(&two).await);
            ask(&mut a, json!({"event": "todo.Task.create", "data": {"title": "x"}})).await;
            for round in 1..=10 {
                let write = |who: &str| json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{who}{round}"), "if_version": round}});
                a.send(Message::text(write("a").to_string())).await.unwrap();
                b.send(Message::text(write("b").to_string())).await.unwrap();
                let (ra, rb) = (next(&mut a).await, next(&mut b).await);
                let won = [&ra, &rb].iter().filter(|r| r["data"]["success"] == true).count();
                let lost = [&ra, &rb].iter().filter(|r| r["error"]["code"] == "conflict").count();
                assert_eq!((won, lost), (1, 1), "round {round}: {ra} {rb}");
            }
            let (_, _, row) = http(&one, Method::GET, "/api/todo.Task/1", None, None).await;
            assert_eq!(row["version"], 11, "ten writes, each applied once: {row}");
            one.shutdown().await;
            two.shutdown().await;
        }
    })
    .await;
    store.drop_schema().await.expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
