//! Computed fields on the tokio adapter over real sockets on 127.0.0.1: a WebSocket reply and
//! a push computed for each reader, the HTTP API's rows and filters, and, on PostgreSQL, a
//! table with no column for them that the migration makes and the schema check accepts.
//!
//! The PostgreSQL test needs `DATABASE_URL`; without it it prints a notice and passes, except
//! under `CI=true`, where it fails.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::binding::{Computed, Field, FieldKind, ModelBinding, Registry};
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Tasks with `is_mine` (for the reader, filterable as `owner_id`) and `loud_title` (from
/// the row alone).
fn registry() -> Registry {
    let is_mine = Computed::new("is_mine", FieldKind::Boolean, |row, user| {
        json!(user.is_some_and(|u| row.get("owner_id") == Some(&json!(u.id))))
    })
    .depends_on(["owner_id"])
    .filter_as(|_, value, user| match value {
        Value::Bool(true) => Ok(owner(user)),
        Value::Bool(false) => Ok(Map::from_iter([("not".into(), Value::Object(owner(user)))])),
        _ => Err("must be true or false".into()),
    });
    let loud = Computed::from_row("loud_title", FieldKind::String, |row| {
        json!(row
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_uppercase))
    })
    .depends_on(["title"]);
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::text("title").not_null())
                .field(Field::integer("owner_id"))
                .computed(is_mine)
                .computed(loud),
        )
        .unwrap()
}

fn owner(user: Option<&User>) -> Map<String, Value> {
    Map::from_iter([("owner_id".into(), json!(user.map_or(-1, |u| u.id)))])
}

/// A server knowing the tokens `alice` (user 2) and `bob` (user 4).
async fn start(store: Arc<dyn Store>) -> chanbind_async::ServerHandle {
    let tokens = TokenAuthenticator::new()
        .token("alice", User::new(2, "alice"))
        .token("bob", User::new(4, "bob"));
    let engine = Engine::builder(registry(), store)
        .authenticator(tokens)
        .start()
        .await
        .unwrap();
    chanbind_async::bind("127.0.0.1:0", engine, Default::default())
        .await
        .unwrap()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(server: &chanbind_async::ServerHandle, token: &str) -> Ws {
    let url = format!("ws://{}/?token={token}", server.local_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = next(&mut ws).await;
    assert_eq!(hello["event"], "hello");
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

#[tokio::test]
async fn a_websocket_reply_and_push_carry_each_readers_values() {
    let server = start(Arc::new(MemoryStore::new(&registry()))).await;
    let (mut alice, mut bob) = (
        connect(&server, "alice").await,
        connect(&server, "bob").await,
    );
    let made = ask(
        &mut alice,
        json!({"event": "todo.Task.create", "data": {"title": "mine", "owner_id": 2, "is_mine": false}}),
    )
    .await;
    assert_eq!(
        made["data"]["object"],
        json!({"id": 1, "title": "mine", "owner_id": 2, "is_mine": true, "loud_title": "MINE"})
    );
    let watch = json!({"event": "todo.Task.retrieve", "data": {"id": 1}});
    assert_eq!(
        ask(&mut alice, watch.clone()).await["data"]["is_mine"],
        true
    );
    assert_eq!(ask(&mut bob, watch).await["data"]["is_mine"], false);
    let update = json!({"event": "todo.Task.update#u", "data": {"id": 1, "title": "still mine"}});
    ws_send(&mut alice, update).await;
    // Alice gets her reply and her push, in either order; bob only his push.
    let mut alice_frames = [next(&mut alice).await, next(&mut alice).await];
    alice_frames.sort_by_key(|f| f["event"].as_str().map(str::to_owned));
    assert_eq!(alice_frames[0]["event"], "todo.Task.retrieve");
    assert_eq!(alice_frames[0]["data"]["is_mine"], true);
    assert_eq!(alice_frames[0]["data"]["loud_title"], "STILL MINE");
    let pushed = next(&mut bob).await;
    assert_eq!(
        pushed,
        json!({"event": "todo.Task.retrieve", "data": {"id": 1, "title": "still mine", "owner_id": 2, "is_mine": false, "loud_title": "STILL MINE"}})
    );
    server.shutdown().await;
}

async fn ws_send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// `method path` with `token`'s bearer and a JSON body; the status and the body.
async fn http(
    server: &chanbind_async::ServerHandle,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", server.local_addr().to_string())
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let raw = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_http_api_shows_and_filters_computed_fields_as_the_websocket_does() {
    let server = start(Arc::new(MemoryStore::new(&registry()))).await;
    for (token, title) in [("alice", "a"), ("bob", "b")] {
        let owner = if token == "alice" { 2 } else { 4 };
        let body = json!({"title": title, "owner_id": owner, "loud_title": "ignored"});
        let (status, made) =
            http(&server, Method::POST, "/api/todo.Task/", token, Some(body)).await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["object"]["is_mine"], true);
        assert_eq!(made["object"]["loud_title"], title.to_uppercase());
    }
    let (_, row) = http(&server, Method::GET, "/api/todo.Task/1", "bob", None).await;
    assert_eq!(
        row,
        json!({"id": 1, "title": "a", "owner_id": 2, "is_mine": false, "loud_title": "A"})
    );
    let ids = |page: &Value| -> Vec<i64> {
        page["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let (_, mine) = http(
        &server,
        Method::GET,
        "/api/todo.Task/?is_mine=true",
        "bob",
        None,
    )
    .await;
    assert_eq!(ids(&mine), [2]);
    let (_, theirs) = http(
        &server,
        Method::GET,
        "/api/todo.Task/?is_mine=false",
        "bob",
        None,
    )
    .await;
    assert_eq!(ids(&theirs), [1]);
    let (status, refused) = http(
        &server,
        Method::GET,
        "/api/todo.Task/?loud_title=A",
        "bob",
        None,
    )
    .await;
    assert_eq!((status, &refused["code"]), (400, &json!("invalid_filter")));
    assert_eq!(
        refused["message"],
        "loud_title: loud_title is a computed field and cannot be filtered by"
    );
    server.shutdown().await;
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("computed: DATABASE_URL is not set; skipping");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_no_column_is_made_or_expected() {
    let Some(url) = database_url() else { return };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("computed_{}_{nanos}", std::process::id());
    let config = PgConfig {
        url: url.clone(),
        schema: Some(schema.clone()),
        pool_size: 2,
        ..Default::default()
    };
    let store = Arc::new(PgStore::connect(config).await.expect("connect"));
    let outcome = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            store.migrate(&registry()).await.expect("migrate");
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect for the check");
            tokio::spawn(connection);
            let columns: Vec<String> = client
                .query(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = 'todo_task' ORDER BY ordinal_position",
                    &[&schema],
                )
                .await
                .expect("the table's columns")
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(columns, ["id", "title", "owner_id"]);
            // The start checks every binding against its table: the computed fields pass.
            let server = start(store).await;
            let mut alice = connect(&server, "alice").await;
            let made = ask(
                &mut alice,
                json!({"event": "todo.Task.create", "data": {"title": "pg", "owner_id": 2}}),
            )
            .await;
            assert_eq!(
                made["data"]["object"],
                json!({"id": 1, "title": "pg", "owner_id": 2, "is_mine": true, "loud_title": "PG"})
            );
            let (_, mine) =
                http(&server, Method::GET, "/api/todo.Task/?is_mine=true", "alice", None).await;
            assert_eq!(mine["count"], 1, "the translated filter runs in SQL: {mine}");
            server.shutdown().await;
        }
    })
    .await;
    store.drop_schema().await.expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
