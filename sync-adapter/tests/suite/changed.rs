//! Writes made outside chanbind and told with `Engine::changed` from blocking code (through
//! `EngineRuntime::block_on`), behind the sync server on a real PostgreSQL with no capture
//! triggers: rows written with the plain `postgres` client reach a WebSocket subscriber of
//! the row and one of a live search; a row gone is pushed as a delete; and `changed` on one
//! node reaches the subscribers of another on the same database through the layer.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chanbind_engine::Engine;
use chanbind_sync::postgres::{CaptureListener, PgConfig, PgStore};
use chanbind_sync::{EngineRuntime, ServerConfig, ServerHandle};
use serde_json::{json, Value};

use crate::common::{self, connect, next, request, Client};

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

fn new_schema(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("sync_changed_{test}_{}_{nanos}", std::process::id())
}

/// Drops the schema when the test ends, however it ends.
struct Cleanup {
    url: String,
    schema: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut sql) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let drop = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
            if let Err(e) = sql.batch_execute(&drop) {
                eprintln!("cannot drop the test schema: {e}");
            }
        }
    }
}

/// One node: a store in `schema` with its tables and no capture triggers, its engine on its
/// own runtime with the PostgreSQL layer, its listener and its server. Drop order: the
/// server, the listener, then the runtime.
struct Node {
    server: ServerHandle,
    _listener: CaptureListener,
    runtime: EngineRuntime,
}

impl Node {
    fn start(url: &str, schema: &str) -> Node {
        let store = PgStore::connect(PgConfig {
            url: url.to_owned(),
            schema: Some(schema.to_owned()),
            pool_size: 4,
            ..Default::default()
        })
        .unwrap();
        store.migrate(&common::registry()).unwrap();
        let store = Arc::new(store);
        let runtime = EngineRuntime::start(
            Engine::builder(common::registry(), Arc::clone(&store) as _)
                .allow_anonymous(true)
                .layer(store.layer().unwrap()),
        )
        .unwrap();
        let listener = store.listen(runtime.engine()).unwrap();
        assert!(
            listener.wait_listening(1, Duration::from_secs(10)),
            "the listener listens"
        );
        let server = runtime
            .bind("127.0.0.1:0", ServerConfig::default())
            .unwrap();
        Node {
            server,
            _listener: listener,
            runtime,
        }
    }

    /// `engine.changed(table, pk)`, from this blocking test thread.
    fn changed(&self, table: &str, pk: i64) -> usize {
        let engine = self.runtime.engine();
        self.runtime
            .block_on(engine.changed(table, pk))
            .expect("changed")
    }
}

/// The application's own connection, on `schema`.
fn app_sql(url: &str, schema: &str) -> postgres::Client {
    let mut sql = postgres::Client::connect(url, postgres::NoTls).unwrap();
    sql.batch_execute(&format!("SET search_path TO \"{schema}\""))
        .unwrap();
    let triggers: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'todo_task'::regclass AND NOT tgisinternal",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(triggers, 0, "no capture triggers");
    sql
}

/// Subscribes to row `id` and to the done tasks; checks the replies.
fn watch(addr: std::net::SocketAddr, id: i64) -> Client {
    let mut ws = connect(addr);
    let row = request(
        &mut ws,
        json!({"event": "todo.Task.retrieve#row", "data": {"id": id}}),
    );
    assert_eq!(row["data"]["done"], false, "{row}");
    let done = request(
        &mut ws,
        json!({"event": "todo.Task.search#done", "data": {"filters": {"done": true}}}),
    );
    assert_eq!(done["data"]["count"], 0, "{done}");
    ws
}

/// The next push for each of `events`, whatever their order.
fn pushes(ws: &mut Client, events: &[&str]) -> Vec<Value> {
    let mut got: Vec<Option<Value>> = vec![None; events.len()];
    while got.iter().any(Option::is_none) {
        let frame = next(ws);
        let event = frame["event"].as_str().unwrap_or_default();
        match events.iter().position(|e| *e == event) {
            Some(i) => got[i] = Some(frame["data"].clone()),
            None => panic!("unexpected push {frame}"),
        }
    }
    got.into_iter().flatten().collect()
}

#[test]
fn plain_postgres_writes_reach_subscribers_through_changed() {
    let test = "plain_postgres_writes_reach_subscribers_through_changed";
    let Some(url) = database_url(test) else {
        return;
    };
    let schema = new_schema("one");
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let node = Node::start(&url, &schema);
    let mut sql = app_sql(&url, &schema);
    let id: i64 = sql
        .query_one(
            "INSERT INTO todo_task (title) VALUES ('a') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    let mut ws = watch(node.server.local_addr(), id);

    sql.execute(
        "UPDATE todo_task SET title = 'b', done = true WHERE id = $1",
        &[&id],
    )
    .unwrap();
    assert_eq!(node.changed("todo_task", id), 1);
    let got = pushes(
        &mut ws,
        &["todo.Task.retrieve#row", "todo.Task.search#done"],
    );
    assert_eq!(got[0]["title"], "b", "{got:?}");
    assert_eq!(got[1]["count"], 1, "{got:?}");

    sql.execute("DELETE FROM todo_task WHERE id = $1", &[&id])
        .unwrap();
    node.changed("todo.Task", id);
    let got = pushes(&mut ws, &["todo.Task.delete#row", "todo.Task.search#done"]);
    assert_eq!(got[0], json!({"id": id, "deleted": true}));
    assert_eq!(got[1]["count"], 0, "{got:?}");
    node.server.shutdown();
}

#[test]
fn changed_on_one_node_reaches_the_subscribers_of_another() {
    let test = "changed_on_one_node_reaches_the_subscribers_of_another";
    let Some(url) = database_url(test) else {
        return;
    };
    let schema = new_schema("two");
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let a = Node::start(&url, &schema);
    let b = Node::start(&url, &schema);
    let mut sql = app_sql(&url, &schema);
    let id: i64 = sql
        .query_one(
            "INSERT INTO todo_task (title) VALUES ('a') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    let mut ws = watch(b.server.local_addr(), id);

    sql.execute("UPDATE todo_task SET done = true WHERE id = $1", &[&id])
        .unwrap();
    assert_eq!(a.changed("todo_task", id), 0, "no one watches on node a");
    let got = pushes(
        &mut ws,
        &["todo.Task.retrieve#row", "todo.Task.search#done"],
    );
    assert_eq!(got[0]["done"], true, "{got:?}");
    assert_eq!(got[1]["count"], 1, "{got:?}");
    a.server.shutdown();
    b.server.shutdown();
}
