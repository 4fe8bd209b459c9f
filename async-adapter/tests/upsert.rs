//! Upserts on PostgreSQL behind the async server, over real WebSockets: a save of a missing
//! text key creates it and a second one updates it (the reply's `created` and the feed's push
//! say which), `on_conflict` updates the row holding a unique value, many connections
//! upserting one username at once make one row, and a bad `on_conflict` writes nothing.
//!
//! Needs a PostgreSQL server: `DATABASE_URL=postgres://... cargo test -p chanbind-async
//! --test upsert`. Without `DATABASE_URL` the tests pass with a notice, except under
//! `CI=true`, where they fail. Each test works in its own schema, dropped after.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_async::ServerHandle;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("app_tag")
                .key(Field::string("slug").max_length(20))
                .field(Field::string("label").required()),
        )
        .and_then(|r| {
            r.model(
                ModelBinding::new("auth_user")
                    .field(Field::string("username").required().unique())
                    .field(Field::string("note")),
            )
        })
        .unwrap()
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("upsert: DATABASE_URL is not set; skipping");
            None
        }
    }
}

/// A server on a store in a schema of its own; the schema is dropped with it.
struct Served {
    store: Arc<PgStore>,
    server: ServerHandle,
}

async fn serve(url: &str) -> Served {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!(
        "upsert_{}_{nanos}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let registry = registry();
    let store = PgStore::connect(PgConfig {
        url: url.to_owned(),
        schema: Some(schema),
        pool_size: 8,
        ..Default::default()
    })
    .await
    .expect("connect");
    store.migrate(&registry).await.expect("migrate");
    let store = Arc::new(store);
    let engine = Engine::builder(registry, store.clone())
        .allow_anonymous(true)
        .start()
        .await
        .expect("engine");
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = chanbind_async::serve(tcp, engine, Default::default()).unwrap();
    Served { store, server }
}

impl Served {
    async fn finish(self) {
        self.server.shutdown().await;
        self.store.drop_schema().await.expect("drop the schema");
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(server: &ServerHandle) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.local_addr()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["event"], "hello");
    ws
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = ws.next().await.expect("a frame").expect("a frame");
        if let Ok(text) = msg.to_text() {
            if !text.is_empty() {
                return serde_json::from_str(text).unwrap();
            }
        }
    }
}

async fn ask(ws: &mut Ws, frame: Value) -> Value {
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next(ws).await
}

async fn count(ws: &mut Ws, stream: &str) -> Value {
    let list = json!({"event": format!("{stream}.list"), "data": {"subscribe": false}});
    ask(ws, list).await["data"]["count"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_creates_a_missing_text_key_then_updates_it() {
    let Some(url) = database_url() else { return };
    let served = serve(&url).await;
    let mut watcher = connect(&served.server).await;
    let mut writer = connect(&served.server).await;
    let sub = ask(
        &mut watcher,
        json!({"event": "app.Tag.subscribe", "data": {}}),
    )
    .await;
    assert_eq!(sub["data"]["success"], true, "{sub}");
    let save =
        |label: &str| json!({"event": "app.Tag.save", "data": {"id": "rust", "label": label}});
    let reply = ask(&mut writer, save("Rust")).await;
    assert_eq!(reply["data"]["created"], true, "{reply}");
    assert_eq!(reply["data"]["object"]["slug"], "rust", "{reply}");
    assert_eq!(next(&mut watcher).await["event"], "app.Tag.created");
    let reply = ask(&mut writer, save("Rust!")).await;
    assert_eq!(reply["data"]["created"], false, "{reply}");
    let pushed = next(&mut watcher).await;
    assert_eq!(pushed["event"], "app.Tag.updated", "{pushed}");
    assert_eq!(pushed["data"]["label"], "Rust!", "{pushed}");
    let off =
        json!({"event": "app.Tag.save", "data": {"id": "go", "label": "Go", "create": false}});
    assert_eq!(ask(&mut writer, off).await["error"]["code"], "not_found");
    assert_eq!(count(&mut writer, "app.Tag").await, 1);
    served.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_conflict_updates_the_row_holding_the_value_and_bad_input_writes_nothing() {
    let Some(url) = database_url() else { return };
    let served = serve(&url).await;
    let mut ws = connect(&served.server).await;
    let upsert = |note: &str| {
        json!({"event": "auth.User.save",
               "data": {"username": "ann", "note": note, "on_conflict": "username"}})
    };
    let first = ask(&mut ws, upsert("one")).await;
    assert_eq!(first["data"]["created"], true, "{first}");
    let second = ask(&mut ws, upsert("two")).await;
    assert_eq!(second["data"]["created"], false, "{second}");
    assert_eq!(second["data"]["id"], first["data"]["id"]);
    assert_eq!(second["data"]["object"]["note"], "two");
    for bad in ["note", "nope"] {
        let frame = json!({"event": "auth.User.save",
                           "data": {"username": "ben", "on_conflict": bad}});
        let reply = ask(&mut ws, frame).await;
        assert_eq!(reply["error"]["code"], "bad_request", "{reply}");
    }
    assert_eq!(count(&mut ws, "auth.User").await, 1);
    served.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_connections_upserting_one_username_make_one_row() {
    let Some(url) = database_url() else { return };
    let served = serve(&url).await;
    let mut writers = Vec::new();
    for _ in 0..6 {
        writers.push(connect(&served.server).await);
    }
    let replies = futures_util::future::join_all(writers.iter_mut().enumerate().map(|(i, ws)| {
        let frame = json!({"event": "auth.User.save",
                           "data": {"username": "same", "note": i.to_string(), "on_conflict": "username"}});
        ask(ws, frame)
    }))
    .await;
    let created = replies
        .iter()
        .filter(|r| r["data"]["created"] == true)
        .count();
    assert_eq!(created, 1, "one create, the others updates: {replies:?}");
    assert!(
        replies
            .iter()
            .all(|r| r["data"]["id"] == replies[0]["data"]["id"]),
        "{replies:?}"
    );
    assert_eq!(count(&mut writers[0], "auth.User").await, 1);
    served.finish().await;
}
