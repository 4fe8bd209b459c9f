//! Writes made outside chanbind and told with `Engine::changed`, over real WebSockets and a
//! real PostgreSQL with no capture triggers: a row inserted, updated and deleted with plain
//! tokio-postgres reaches a subscriber of the row and one of a live search once the
//! application calls `created`, `changed` or `changed_many`; and `changed` on one node
//! reaches a subscriber of another node on the same database through the PostgreSQL layer.
//!
//! Needs a PostgreSQL server: `DATABASE_URL=postgres://... cargo test -p chanbind-async
//! --test changed`. Without `DATABASE_URL` the tests pass with a notice, except under
//! `CI=true`, where they fail. Each test works in its own schema, dropped after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{CaptureListener, PgConfig, PgStore};
use chanbind_async::ServerHandle;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(200))
                .field(Field::boolean("done").default(false)),
        )
        .unwrap()
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("changed: DATABASE_URL is not set; skipping");
            None
        }
    }
}

fn new_schema() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "changed_{}_{nanos}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Drops a test's schema if the test panics before its own cleanup. Uses `psql`, since no
/// runtime may be left to drive a client.
struct Cleanup {
    url: String,
    schema: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::process::Command::new("psql")
                .args([self.url.as_str(), "-qc"])
                .arg(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema))
                .output();
        }
    }
}

/// One node in `schema`: a store with its tables and no capture triggers, its engine on the
/// PostgreSQL layer, the listener that hears the other nodes, and a server.
struct Node {
    engine: Engine,
    store: Arc<PgStore>,
    server: ServerHandle,
    _listener: CaptureListener,
}

async fn node(url: &str, schema: &str) -> Node {
    let registry = registry();
    let store = PgStore::connect(PgConfig {
        url: url.to_owned(),
        schema: Some(schema.to_owned()),
        pool_size: 4,
        ..Default::default()
    })
    .await
    .expect("connect");
    store.migrate(&registry).await.expect("migrate");
    let store = Arc::new(store);
    let engine = Engine::builder(registry, store.clone())
        .allow_anonymous(true)
        .layer(store.layer())
        .start()
        .await
        .expect("engine");
    let listener = store.listen(engine.clone());
    assert!(
        listener.wait_listening(1, Duration::from_secs(10)).await,
        "the listener listens"
    );
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = chanbind_async::serve(tcp, engine.clone(), Default::default()).unwrap();
    Node {
        engine,
        store,
        server,
        _listener: listener,
    }
}

/// A plain tokio-postgres client on `schema`: the application's own SQL.
async fn app_sql(url: &str, schema: &str) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.options(format!("-c search_path={schema}"));
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("plain client");
    tokio::spawn(connection);
    client
}

/// No trigger on the table: nothing but `changed` tells the engine.
async fn assert_no_triggers(sql: &tokio_postgres::Client) {
    let n: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'todo_task'::regclass AND NOT tgisinternal",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "no capture triggers");
}

/// The latest data per event a WebSocket client received, recorded in the background.
type Seen = Arc<Mutex<HashMap<String, Value>>>;

async fn client(server: &ServerHandle, requests: Vec<Value>) -> (Seen, impl Drop) {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", server.local_addr()))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let seen = Seen::default();
    let recorder = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        while let Some(Ok(msg)) = rx.next().await {
            let Ok(text) = msg.to_text() else { continue };
            let frame: Value = serde_json::from_str(text).unwrap();
            assert!(frame.get("error").is_none(), "error frame {frame}");
            let event = frame["event"].as_str().unwrap_or_default().to_owned();
            recorder
                .lock()
                .unwrap()
                .insert(event, frame["data"].clone());
        }
    });
    for request in &requests {
        tx.send(Message::text(request.to_string())).await.unwrap();
    }
    // hello, then one reply per request.
    eventually(&seen, "the replies", |s| s.len() == requests.len() + 1).await;
    (seen, AbortOnDrop(task, tx))
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<()>, T);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits until `check` holds of what the client saw, or panics after a while with `what`.
async fn eventually(seen: &Seen, what: &str, check: impl Fn(&HashMap<String, Value>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check(&seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "timed out waiting for {what}; saw {:?}",
        seen.lock().unwrap()
    );
}

fn get<'a>(seen: &'a HashMap<String, Value>, event: &str) -> &'a Value {
    seen.get(event).unwrap_or(&Value::Null)
}

fn watches(id: i64) -> Vec<Value> {
    vec![
        json!({"event": "todo.Task.retrieve#row", "data": {"id": id}}),
        json!({"event": "todo.Task.search#done", "data": {"filters": {"done": true}}}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tokio_postgres_writes_reach_subscribers_through_changed() {
    let Some(url) = database_url() else { return };
    let schema = new_schema();
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let node = node(&url, &schema).await;
    let sql = app_sql(&url, &schema).await;
    assert_no_triggers(&sql).await;
    let id: i64 = sql
        .query_one(
            "INSERT INTO todo_task (title) VALUES ('a') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let (seen, _client) = client(&node.server, watches(id)).await;
    assert_eq!(
        get(&seen.lock().unwrap(), "todo.Task.search#done")["count"],
        0
    );

    sql.execute(
        "UPDATE todo_task SET title = 'b', done = true WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    assert_eq!(node.engine.changed("todo_task", id).await.unwrap(), 1);
    eventually(&seen, "the update", |s| {
        get(s, "todo.Task.retrieve#row")["title"] == "b"
            && get(s, "todo.Task.search#done")["count"] == 1
    })
    .await;

    // Two new rows in one transaction, told in one call.
    let ids: Vec<i64> = sql
        .query(
            "INSERT INTO todo_task (title, done) VALUES ('c', true), ('d', true) RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    node.engine
        .publish_changed(
            chanbind_engine::ChangeSet::new()
                .created("todo_task", ids[0])
                .created(format!("{schema}.todo_task"), ids[1]),
        )
        .await
        .unwrap();
    eventually(&seen, "the inserts", |s| {
        get(s, "todo.Task.search#done")["count"] == 3
    })
    .await;

    sql.execute("DELETE FROM todo_task WHERE id = $1", &[&id])
        .await
        .unwrap();
    node.engine
        .changed_many("todo_task", [id, ids[0]])
        .await
        .unwrap();
    eventually(&seen, "the delete", |s| {
        get(s, "todo.Task.delete#row") == &json!({"id": id, "deleted": true})
            && get(s, "todo.Task.search#done")["count"] == 2
    })
    .await;
    node.server.shutdown().await;
    node.store.drop_schema().await.expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_on_one_node_reaches_the_subscribers_of_another() {
    let Some(url) = database_url() else { return };
    let schema = new_schema();
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let a = node(&url, &schema).await;
    let b = node(&url, &schema).await;
    let sql = app_sql(&url, &schema).await;
    assert_no_triggers(&sql).await;
    let id: i64 = sql
        .query_one(
            "INSERT INTO todo_task (title) VALUES ('a') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let (seen, _client) = client(&b.server, watches(id)).await;

    sql.execute("UPDATE todo_task SET done = true WHERE id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(
        a.engine.changed("todo_task", id).await.unwrap(),
        0,
        "no one watches on node a"
    );
    eventually(&seen, "node b's pushes", |s| {
        get(s, "todo.Task.retrieve#row")["done"] == true
            && get(s, "todo.Task.search#done")["count"] == 1
    })
    .await;
    a.server.shutdown().await;
    b.server.shutdown().await;
    a.store.drop_schema().await.expect("drop schema");
}
