//! The typed application API and the hooks around writes on the tokio adapter and its
//! PostgreSQL store, over real sockets on 127.0.0.1: an application's write is pushed to a
//! WebSocket subscriber, a before-write hook's refusal reaches a WebSocket client as
//! `invalid` and an HTTP client as 400, a wrapper's and a before-write hook's values are
//! what PostgreSQL stores, and users, the system and anonymous callers get their rights.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails. Each test works in a schema of its own, dropped afterwards.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_async::ServerHandle;
use chanbind_engine::app::Ctx;
use chanbind_engine::auth::User;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::permission::{Access, Permission};
use chanbind_engine::protocol::{ApiError, ErrorCode};
use chanbind_engine::value::Row;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
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
            eprintln!("app: DATABASE_URL is not set; skipping");
            None
        }
    }
}

/// Tasks whose create sets a slug, whose titles are trimmed, and where "later" is refused.
fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(40))
                .field(Field::string("slug").read_only())
                .field(Field::boolean("done").default(false))
                .before_write(|mut call| async move {
                    let Some(title) = call.values.get("title").and_then(Value::as_str) else {
                        return Ok(call.values);
                    };
                    if title.trim() == "later" {
                        let why = vec!["do it now".to_owned()];
                        return Err(ApiError::invalid(BTreeMap::from([("title".into(), why)])));
                    }
                    let trimmed = title.trim().to_owned();
                    call.values.insert("title".into(), json!(trimmed));
                    Ok(call.values)
                })
                .wrap("create", |mut call, next| async move {
                    let title = call.values["title"].as_str().unwrap_or_default();
                    let slug = title.trim().to_lowercase().replace(' ', "-");
                    call.values.insert("slug".into(), json!(slug));
                    next.run(call.values).await
                }),
        )
        .unwrap()
}

/// A server on a store in a schema of its own, dropped when `test` is done.
async fn with_server<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Engine, ServerHandle) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_registry(name, registry(), test).await
}

/// [`with_server`] serving `registry`.
async fn with_registry<F, Fut>(name: &str, registry: Registry, test: F)
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
        schema: Some(format!("app_{name}_{}_{nanos}", std::process::id())),
        pool_size: 2,
        ..Default::default()
    })
    .await
    .expect("connect to DATABASE_URL");
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

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Task {
    id: Option<i64>,
    title: String,
    slug: Option<String>,
    done: bool,
}

#[tokio::test]
async fn an_applications_write_is_pushed_to_a_websocket_subscriber() {
    with_server("push", |engine, server| async move {
        let mut ws = connect(&server).await;
        let listed = ask(&mut ws, json!({"event": "todo.Task.list#l", "data": {}})).await;
        assert_eq!(listed["data"]["count"], 0, "{listed}");
        let task = Task {
            id: None,
            title: " Ship it ".into(),
            slug: None,
            done: false,
        };
        let ctx = Ctx::user(User::new(1, "ada"));
        let created = engine
            .model("todo.Task")
            .create_as::<Task>(&ctx, task)
            .await
            .unwrap();
        assert_eq!(
            created,
            Task {
                id: Some(1),
                title: "Ship it".into(),
                slug: Some("ship-it".into()),
                done: false
            }
        );
        let pushed = next_json(&mut ws).await;
        assert_eq!(pushed["event"], "todo.Task.list#l");
        assert_eq!(pushed["data"]["rows"][0]["slug"], "ship-it", "{pushed}");
        engine
            .model("todo.Task")
            .update(&Ctx::system(), 1, json!({"done": true}))
            .await
            .unwrap();
        assert_eq!(next_json(&mut ws).await["data"]["rows"][0]["done"], true);
        let back: Task = engine
            .model("todo.Task")
            .retrieve_as(&ctx, 1)
            .await
            .unwrap();
        assert!(back.done);
        let page = engine
            .model("todo.Task")
            .search_as::<Task>(&ctx, json!({"filters": {"slug": "ship-it"}}))
            .await
            .unwrap();
        assert_eq!(page.count, 1);
        engine.model("todo.Task").delete(&ctx, 1).await.unwrap();
        assert_eq!(next_json(&mut ws).await["data"]["count"], 0);
        let gone = engine
            .model("todo.Task")
            .retrieve(&ctx, 1)
            .await
            .unwrap_err();
        assert_eq!(gone.code(), ErrorCode::NotFound);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_before_hooks_refusal_is_invalid_over_websocket_and_400_over_http() {
    with_server("refuse", |engine, server| async move {
        let mut ws = connect(&server).await;
        let refused = ask(
            &mut ws,
            json!({"event": "todo.Task.create#c", "data": {"title": " later "}}),
        )
        .await;
        assert_eq!(refused["event"], "todo.Task.create#c");
        assert_eq!(refused["error"]["code"], "invalid", "{refused}");
        assert_eq!(refused["error"]["fields"]["title"], json!(["do it now"]));
        let (status, body) = post(&server, "/api/todo.Task/", &json!({"title": "later"})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["fields"]["title"], json!(["do it now"]), "{body}");
        // What the hooks let through is what PostgreSQL stores.
        let (status, body) =
            post(&server, "/api/todo.Task/", &json!({"title": " Now Then "})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["object"]["title"], "Now Then");
        assert_eq!(body["object"]["slug"], "now-then");
        let stored = engine
            .model("todo.Task")
            .list(&Ctx::system(), Value::Null)
            .await
            .unwrap();
        assert_eq!(stored.count, 1);
        assert_eq!(stored.rows[0]["slug"], "now-then");
        server.shutdown().await;
    })
    .await;
}

/// Signed-in users see and write their own notes only; `secret` is hidden from them.
struct OwnNotes;

impl Permission for OwnNotes {
    fn allows(&self, access: &Access<'_>) -> bool {
        access.user.is_some()
    }
    fn scope(&self, user: Option<&User>, _action: &str) -> Option<Map<String, Value>> {
        json!({"owner": user.map_or(-1, |u| u.id)})
            .as_object()
            .cloned()
    }
    fn hidden_fields(&self, _user: Option<&User>) -> Vec<String> {
        vec!["secret".into()]
    }
    fn prepare_write(&self, user: Option<&User>, _action: &str, values: &mut Row) {
        if let Some(u) = user {
            values.insert("owner".into(), json!(u.id));
        }
    }
}

#[tokio::test]
async fn users_the_system_and_anonymous_callers_get_their_rights_on_postgresql() {
    let registry = Registry::new()
        .model(
            ModelBinding::new("app_note")
                .field(Field::string("text").required())
                .field(Field::integer("owner"))
                .field(Field::string("secret"))
                .permission(OwnNotes),
        )
        .unwrap();
    with_registry("rights", registry, |engine, server| async move {
        let notes = engine.model("app.Note");
        let (ada, bob) = (
            Ctx::user(User::new(1, "ada")),
            Ctx::user(User::new(2, "bob")),
        );
        let mine = notes.create(&ada, json!({"text": "ada's"})).await.unwrap();
        assert_eq!(
            Value::Object(mine),
            json!({"id": 1, "text": "ada's", "owner": 1})
        );
        let system = Ctx::system();
        let theirs = notes
            .create(&system, json!({"text": "bob's", "owner": 2, "secret": "s"}))
            .await
            .unwrap();
        assert_eq!(theirs["secret"], "s");
        assert_eq!(notes.search(&ada, Value::Null).await.unwrap().count, 1);
        assert_eq!(notes.list(&system, Value::Null).await.unwrap().count, 2);
        let err = notes.retrieve(&bob, 1).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
        let err = notes
            .update(&bob, 1, json!({"text": "x"}))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
        let err = notes
            .list(&Ctx::anonymous(), Value::Null)
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unauthenticated);
        notes.delete(&system, 1).await.unwrap();
        assert_eq!(notes.search(&ada, Value::Null).await.unwrap().count, 0);
        server.shutdown().await;
    })
    .await;
}
