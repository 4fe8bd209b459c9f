//! Capture of outside writes, over real sockets and a real PostgreSQL: rows changed by plain
//! SQL through a separate client reach WebSocket subscribers (retrieve and live search), a
//! write through chanbind is pushed once, not twice, and a listener that loses its connection
//! reconnects and refreshes its subscribers. A plain SQL change of a related row moves rows in
//! and out of a live search filtered through the relation.
//!
//! Needs a PostgreSQL server: `scripts/test -p chanbind-async --test capture`. Without
//! `DATABASE_URL` the tests pass with a notice, except under `CI=true`, where they fail. Each
//! test works in its own schema, dropped after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{CaptureListener, PgConfig, PgStore};
use chanbind_async::ServerHandle;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

fn registry() -> Registry {
    Registry::new()
        .model(ModelBinding::new("auth_user").field(Field::string("username").required()))
        .unwrap()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(200))
                .field(Field::boolean("done").default(false))
                .field(Field::integer("priority").default(0))
                .field(Field::text("notes"))
                .field(Field::foreign_key("owner_id", "auth.User"))
                .search(["title"]),
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
            eprintln!("capture: DATABASE_URL is not set; skipping");
            None
        }
    }
}

fn with_application_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

/// One node: a store in its own schema with capture installed, its engine (with the
/// PostgreSQL channel layer), server and listener, and a plain client writing the same schema
/// from outside.
struct Node {
    /// The `application_name` of the node's connections.
    name: String,
    engine: Engine,
    store: Arc<PgStore>,
    server: ServerHandle,
    listener: CaptureListener,
    sql: tokio_postgres::Client,
    _cleanup: Cleanup,
}

/// Drops a test's schema if the test panics before its own cleanup, so failed runs leave
/// nothing behind. Uses `psql`, since no runtime may be left to drive a client.
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

fn new_schema() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "capture_{}_{nanos}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

async fn node() -> Option<Node> {
    let url = database_url()?;
    let schema = new_schema();
    Some(node_in(&url, &schema, &schema).await)
}

/// A node in `schema`, its connections named `name`.
async fn node_in(url: &str, schema: &str, name: &str) -> Node {
    let cleanup = Cleanup {
        url: url.to_owned(),
        schema: schema.to_owned(),
    };
    let url = with_application_name(url, name);
    let registry = registry();
    let config = PgConfig {
        url: url.clone(),
        schema: Some(schema.to_owned()),
        pool_size: 4,
        ..Default::default()
    };
    let store = PgStore::connect(config).await.expect("connect");
    store.migrate(&registry).await.expect("migrate");
    store
        .install_capture(&registry)
        .await
        .expect("install capture");
    store
        .install_capture(&registry)
        .await
        .expect("installing twice changes nothing");
    let store = Arc::new(store);
    let engine = Engine::builder(registry, store.clone())
        .limits(Limits::default())
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
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.options(format!("-c search_path={schema}"));
    let (sql, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("plain client");
    tokio::spawn(connection);
    Node {
        name: name.to_owned(),
        engine,
        store,
        server,
        listener,
        sql,
        _cleanup: cleanup,
    }
}

impl Node {
    async fn finish(self) {
        let store = Arc::clone(&self.store);
        self.stop().await;
        store.drop_schema().await.expect("drop schema");
    }

    /// Stops the node, leaving the schema.
    async fn stop(self) {
        drop(self.listener);
        self.server.shutdown().await;
    }

    /// Lets the notifications of writes made so far be heard and published, so they do not
    /// count as pushes of what a test does next.
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every frame a client received: the latest data per event and how many frames per event.
#[derive(Default)]
struct Seen {
    latest: HashMap<String, Value>,
    count: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Seen>>;

/// Connects, sends `requests`, and records every frame in the background.
async fn client(
    node: &Node,
    requests: Vec<Value>,
) -> (Shared, futures_util::stream::SplitSink<Ws, Message>) {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", node.server.local_addr()))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let seen = Shared::default();
    let recorder = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Some(Ok(msg)) = rx.next().await {
            let Ok(text) = msg.to_text() else { continue };
            let frame: Value = serde_json::from_str(text).unwrap();
            assert!(frame.get("error").is_none(), "error frame {frame}");
            let event = frame["event"].as_str().unwrap_or_default().to_owned();
            let mut seen = recorder.lock().unwrap();
            *seen.count.entry(event.clone()).or_default() += 1;
            seen.latest.insert(event, frame["data"].clone());
        }
    });
    for request in requests {
        tx.send(Message::text(request.to_string())).await.unwrap();
    }
    (seen, tx)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits until `check` holds of what the client saw, or panics after a while with `what`.
async fn eventually(seen: &Shared, what: &str, check: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if check(&seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().unwrap();
    panic!("timed out waiting for {what}; latest: {:?}", seen.latest);
}

fn data<'a>(seen: &'a Seen, event: &str) -> &'a Value {
    seen.latest.get(event).unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sql_on_a_related_row_moves_a_live_search_through_it() {
    let Some(node) = node().await else { return };
    node.sql
        .batch_execute(
            "INSERT INTO auth_user (username) VALUES ('alice'), ('bob'); \
             INSERT INTO todo_task (title, owner_id) VALUES ('a', 1), ('b', 2), ('c', NULL)",
        )
        .await
        .unwrap();
    node.settle().await;
    // Nobody watches auth.User itself: its changes are read for the tasks' sake.
    let (seen, _tx) = client(
        &node,
        vec![json!({"event": "todo.Task.search#ali", "data": {
            "filters": {"owner__username__icontains": "ALI"}, "order": "-owner__username"}})],
    )
    .await;
    let titles = |s: &Seen| -> Vec<String> {
        data(s, "todo.Task.search#ali")["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| r["title"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    eventually(&seen, "the reply", |s| titles(s) == ["a"]).await;
    node.sql
        .batch_execute("UPDATE auth_user SET username = 'alina' WHERE id = 2")
        .await
        .unwrap();
    eventually(&seen, "bob's rename bringing his task in", |s| {
        titles(s) == ["b", "a"]
    })
    .await;
    node.sql
        .batch_execute("UPDATE auth_user SET username = 'carol' WHERE id = 1")
        .await
        .unwrap();
    eventually(&seen, "alice's rename taking hers out", |s| {
        titles(s) == ["b"]
    })
    .await;
    node.sql
        .batch_execute("UPDATE todo_task SET owner_id = 2 WHERE title = 'c'")
        .await
        .unwrap();
    eventually(&seen, "the task's own key", |s| titles(s) == ["b", "c"]).await;
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sql_reaches_retrieve_and_live_search() {
    let Some(node) = node().await else { return };
    node.sql
        .batch_execute(
            "INSERT INTO todo_task (title) SELECT 'task ' || n FROM generate_series(1, 1000) n",
        )
        .await
        .unwrap();
    let (seen, _tx) = client(
        &node,
        vec![
            json!({"event": "todo.Task.retrieve#one", "data": {"id": 1}}),
            json!({"event": "todo.Task.retrieve#two", "data": {"id": 2}}),
            json!({"event": "todo.Task.search#done", "data": {"filters": {"done": true}, "limit": 5}}),
            json!({"event": "todo.Task.search#all", "data": {"limit": 1, "order": "-id"}}),
        ],
    )
    .await;
    eventually(&seen, "the replies", |s| s.latest.len() == 5).await;

    node.sql
        .batch_execute("UPDATE todo_task SET title = 'renamed' WHERE id = 1")
        .await
        .unwrap();
    eventually(&seen, "the update of row 1", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "renamed"
    })
    .await;

    // A bulk update: the live search must end on the final state, all 1,000 rows done.
    node.sql
        .batch_execute("UPDATE todo_task SET done = true, priority = 3")
        .await
        .unwrap();
    eventually(&seen, "the bulk update", |s| {
        data(s, "todo.Task.search#done")["count"] == 1000
            && data(s, "todo.Task.retrieve#one")["done"] == true
    })
    .await;

    node.sql
        .batch_execute("DELETE FROM todo_task WHERE id = 2")
        .await
        .unwrap();
    eventually(&seen, "the delete of row 2", |s| {
        data(s, "todo.Task.delete#two") == &json!({"id": 2, "deleted": true})
            && data(s, "todo.Task.search#done")["count"] == 999
    })
    .await;

    // A huge row: the notification carries only the key, the push the whole row.
    node.sql
        .batch_execute("UPDATE todo_task SET notes = repeat('0123456789', 200000) WHERE id = 1")
        .await
        .unwrap();
    eventually(&seen, "the huge row", |s| {
        data(s, "todo.Task.retrieve#one")["notes"]
            .as_str()
            .is_some_and(|notes| notes.len() == 2_000_000)
    })
    .await;

    node.sql
        .batch_execute("INSERT INTO todo_task (title) VALUES ('from psql')")
        .await
        .unwrap();
    eventually(&seen, "the insert", |s| {
        let all = data(s, "todo.Task.search#all");
        all["count"] == 1000 && all["rows"][0]["title"] == "from psql"
    })
    .await;

    // Settled: what the client holds is what the table holds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let done: i64 = node
        .sql
        .query_one("SELECT count(*) FROM todo_task WHERE done", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        data(&seen.lock().unwrap(), "todo.Task.search#done")["count"],
        done
    );
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sql_on_a_related_row_reaches_the_subscribers_that_show_it() {
    let Some(node) = node().await else { return };
    node.sql
        .batch_execute(
            "INSERT INTO auth_user (username) VALUES ('ann'), ('ben');
             INSERT INTO todo_task (title, owner_id) VALUES ('one', 1), ('two', 1), ('three', 2)",
        )
        .await
        .unwrap();
    node.settle().await;
    // No one watches auth.User rows themselves: a task shows its owner, a user their tasks.
    let (seen, _tx) = client(
        &node,
        vec![
            json!({"event": "todo.Task.retrieve#t", "data": {"id": 1, "expand": "owner"}}),
            json!({"event": "todo.Task.search#s", "data": {"expand": ["owner"], "order": "id"}}),
            json!({"event": "auth.User.retrieve#u", "data": {"id": 2, "include": {"tasks": {"order": "-id"}}}}),
        ],
    )
    .await;
    eventually(&seen, "hello and the replies", |s| s.latest.len() == 4).await;
    assert_eq!(
        data(&seen.lock().unwrap(), "todo.Task.retrieve#t")["owner"]["username"],
        "ann"
    );

    node.sql
        .batch_execute("UPDATE auth_user SET username = 'anna' WHERE id = 1")
        .await
        .unwrap();
    eventually(&seen, "the owner's rename", |s| {
        data(s, "todo.Task.retrieve#t")["owner"]["username"] == "anna"
            && data(s, "todo.Task.search#s")["rows"][1]["owner"]["username"] == "anna"
    })
    .await;
    // A task moves to ben, from outside: his included tasks follow.
    node.sql
        .batch_execute("UPDATE todo_task SET owner_id = 2 WHERE id = 2")
        .await
        .unwrap();
    eventually(&seen, "the moved task", |s| {
        let tasks = &data(s, "auth.User.retrieve#u")["tasks"];
        tasks.as_array().is_some_and(|t| t.len() == 2) && tasks[1]["title"] == "two"
    })
    .await;
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_chanbind_is_pushed_once() {
    let Some(node) = node().await else { return };
    node.sql
        .batch_execute("INSERT INTO todo_task (title) VALUES ('a')")
        .await
        .unwrap();
    node.settle().await;
    let (seen, _tx) = client(
        &node,
        vec![
            json!({"event": "todo.Task.retrieve#one", "data": {"id": 1}}),
            json!({"event": "todo.Task.subscribe#feed", "data": {}}),
        ],
    )
    .await;
    eventually(&seen, "the replies", |s| s.latest.len() == 3).await;
    let (writer, mut tx) = client(&node, vec![]).await;
    tx.send(Message::text(
        json!({"event": "todo.Task.update#w", "data": {"id": 1, "title": "b"}}).to_string(),
    ))
    .await
    .unwrap();
    eventually(&writer, "the update's reply", |s| {
        s.latest.contains_key("todo.Task.update#w")
    })
    .await;
    eventually(&seen, "the push", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "b"
    })
    .await;
    // Long enough for the trigger's notification to have come back, had it not been skipped.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let count = |event: &str| seen.lock().unwrap().count.get(event).copied();
    assert_eq!(
        count("todo.Task.retrieve#one"),
        Some(2),
        "the reply and one push"
    );
    assert_eq!(count("todo.Task.updated#feed"), Some(1), "one feed event");
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_reconnects_and_refreshes_subscribers() {
    let Some(node) = node().await else { return };
    node.sql
        .batch_execute("INSERT INTO todo_task (title) SELECT 't' FROM generate_series(1, 10)")
        .await
        .unwrap();
    node.settle().await;
    let (seen, _tx) = client(
        &node,
        vec![
            json!({"event": "todo.Task.retrieve#one", "data": {"id": 1}}),
            json!({"event": "todo.Task.search#hi", "data": {"filters": {"priority__gte": 3}}}),
        ],
    )
    .await;
    eventually(&seen, "the replies", |s| s.latest.len() == 3).await;
    // Cut the listener's connection, then write while it is away: that notification is lost.
    let cut = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}' AND query ILIKE 'LISTEN%'",
        node.name
    );
    let cut_rows = node.sql.query(&cut, &[]).await.unwrap();
    assert_eq!(cut_rows.len(), 1, "one listener connection");
    node.sql
        .batch_execute("UPDATE todo_task SET title = 'while away', priority = 4 WHERE id <= 5")
        .await
        .unwrap();
    assert!(
        node.listener
            .wait_listening(2, Duration::from_secs(10))
            .await,
        "the listener reconnects"
    );
    eventually(&seen, "the refresh", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "while away"
            && data(s, "todo.Task.search#hi")["count"] == 5
    })
    .await;
    node.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_sends_and_broadcasts_reach_the_other_node() {
    let Some(url) = database_url() else { return };
    let schema = new_schema();
    let a = node_in(&url, &schema, &format!("{schema}_a")).await;
    let b = node_in(&url, &schema, &format!("{schema}_b")).await;
    // Another cluster, in another schema of the same database, hears nothing.
    let elsewhere = new_schema();
    let other = node_in(&url, &elsewhere, &elsewhere).await;
    a.sql
        .batch_execute("INSERT INTO todo_task (title) VALUES ('a')")
        .await
        .unwrap();
    let watch = vec![json!({"event": "todo.Task.retrieve#one", "data": {"id": 1}})];
    let (on_a, _ta) = client(&a, watch.clone()).await;
    let (on_b, _tb) = client(&b, watch).await;
    let (on_other, _to) = client(&other, vec![]).await;
    for seen in [&on_a, &on_b] {
        eventually(seen, "the replies", |s| {
            s.latest.contains_key("todo.Task.retrieve#one")
        })
        .await;
    }
    eventually(&on_other, "hello", |s| s.latest.contains_key("hello")).await;

    a.engine.broadcast("news", "flash", &json!({"n": 1}));
    assert!(a
        .engine
        .send_to_group("todo.Task", "ping", &json!({"n": 2})));
    for seen in [&on_a, &on_b] {
        eventually(seen, "the broadcast and the group send", |s| {
            data(s, "news.flash") == &json!({"n": 1})
                && data(s, "todo.Task.ping") == &json!({"n": 2})
        })
        .await;
    }
    // Too large for NOTIFY: refused for the other nodes, still delivered here.
    a.engine.broadcast("news", "huge", &json!("x".repeat(9000)));
    b.engine.broadcast("news", "back", &json!({"from": "b"}));
    eventually(&on_a, "B's broadcast on A", |s| {
        data(s, "news.back") == &json!({"from": "b"})
    })
    .await;
    eventually(&on_a, "the huge one locally", |s| {
        s.latest.contains_key("news.huge")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let count =
        |seen: &Shared, event: &str| seen.lock().unwrap().count.get(event).copied().unwrap_or(0);
    assert_eq!(count(&on_b, "news.huge"), 0, "too large to travel");
    assert_eq!(count(&on_b, "news.flash"), 1, "delivered once");
    assert_eq!(
        count(&on_a, "news.flash"),
        1,
        "not echoed back to the sender"
    );
    assert_eq!(
        count(&on_other, "news.flash"),
        0,
        "other clusters hear nothing"
    );
    other.finish().await;
    b.stop().await;
    a.finish().await;
}
