//! Upserts on the blocking PostgreSQL store behind the sync server, over real WebSockets: a
//! save of a missing text key creates it and a second one updates it (the reply's `created`
//! and the feed's push say which), `on_conflict` updates the row holding a unique value, many
//! connections upserting one username at once make one row, and a bad `on_conflict` writes
//! nothing.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::store::Store;
use chanbind_engine::Engine;
use chanbind_sync::postgres::{PgConfig, PgStore};
use chanbind_sync::{EngineRuntime, ServerConfig};
use serde_json::{json, Value};

use crate::common::{connect, next, request, Client};

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

fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("DATABASE_URL is not set under CI")
        }
        _ => {
            eprintln!("NOTICE: {test} skipped: DATABASE_URL is not set");
            None
        }
    }
}

/// A sync server on a store in a schema of its own, dropped with it.
struct Served {
    store: Arc<PgStore>,
    server: Option<chanbind_sync::ServerHandle>,
    _runtime: EngineRuntime,
}

impl Served {
    fn new(url: String, test: &str) -> Served {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let store = PgStore::connect(PgConfig {
            url,
            schema: Some(format!("sync_up_{test}_{}_{nanos}", std::process::id())),
            pool_size: 8,
            ..Default::default()
        })
        .unwrap();
        store.migrate(&registry()).unwrap();
        let store = Arc::new(store);
        let runtime = EngineRuntime::start(
            Engine::builder(registry(), Arc::clone(&store) as Arc<dyn Store>).allow_anonymous(true),
        )
        .unwrap();
        let server = runtime
            .bind("127.0.0.1:0", ServerConfig::default())
            .unwrap();
        Served {
            store,
            server: Some(server),
            _runtime: runtime,
        }
    }

    fn connect(&self) -> Client {
        connect(self.server.as_ref().unwrap().local_addr())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        if let Err(e) = self.store.drop_schema() {
            eprintln!("cannot drop the test schema: {e}");
        }
    }
}

fn count(ws: &mut Client, stream: &str) -> Value {
    let list = json!({"event": format!("{stream}.list"), "data": {"subscribe": false}});
    request(ws, list)["data"]["count"].clone()
}

#[test]
fn a_save_creates_a_missing_text_key_then_updates_it() {
    let Some(url) = database_url("a_save_creates_a_missing_text_key_then_updates_it") else {
        return;
    };
    let served = Served::new(url, "key");
    let (mut watcher, mut writer) = (served.connect(), served.connect());
    let sub = request(
        &mut watcher,
        json!({"event": "app.Tag.subscribe", "data": {}}),
    );
    assert_eq!(sub["data"]["success"], true, "{sub}");
    let save =
        |label: &str| json!({"event": "app.Tag.save", "data": {"id": "rust", "label": label}});
    let reply = request(&mut writer, save("Rust"));
    assert_eq!(reply["data"]["created"], true, "{reply}");
    assert_eq!(next(&mut watcher)["event"], "app.Tag.created");
    let reply = request(&mut writer, save("Rust!"));
    assert_eq!(reply["data"]["created"], false, "{reply}");
    let pushed = next(&mut watcher);
    assert_eq!(pushed["event"], "app.Tag.updated", "{pushed}");
    assert_eq!(pushed["data"]["label"], "Rust!", "{pushed}");
    let off =
        json!({"event": "app.Tag.save", "data": {"id": "go", "label": "Go", "create": false}});
    assert_eq!(request(&mut writer, off)["error"]["code"], "not_found");
    assert_eq!(count(&mut writer, "app.Tag"), 1);
}

#[test]
fn on_conflict_updates_the_row_holding_the_value_and_bad_input_writes_nothing() {
    let Some(url) = database_url("on_conflict_updates_the_row_holding_the_value") else {
        return;
    };
    let served = Served::new(url, "field");
    let mut ws = served.connect();
    let upsert = |note: &str| {
        json!({"event": "auth.User.save",
               "data": {"username": "ann", "note": note, "on_conflict": "username"}})
    };
    let first = request(&mut ws, upsert("one"));
    assert_eq!(first["data"]["created"], true, "{first}");
    let second = request(&mut ws, upsert("two"));
    assert_eq!(second["data"]["created"], false, "{second}");
    assert_eq!(second["data"]["id"], first["data"]["id"]);
    for bad in ["note", "nope"] {
        let frame = json!({"event": "auth.User.save",
                           "data": {"username": "ben", "on_conflict": bad}});
        assert_eq!(request(&mut ws, frame)["error"]["code"], "bad_request");
    }
    assert_eq!(count(&mut ws, "auth.User"), 1);
}

#[test]
fn many_connections_upserting_one_username_make_one_row() {
    let Some(url) = database_url("many_connections_upserting_one_username") else {
        return;
    };
    let served = Served::new(url, "race");
    let mut writers: Vec<Client> = (0..6).map(|_| served.connect()).collect();
    // Every frame is sent before any reply is read, so the upserts run side by side.
    for (i, ws) in writers.iter_mut().enumerate() {
        let frame = json!({"event": "auth.User.save",
                           "data": {"username": "same", "note": i.to_string(), "on_conflict": "username"}});
        crate::common::send(ws, frame);
    }
    let replies: Vec<Value> = writers.iter_mut().map(next).collect();
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
    assert_eq!(count(&mut writers[0], "auth.User"), 1);
}
