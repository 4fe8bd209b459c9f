//! Capture and the channel layer across adapters and nodes, over real sockets and a real
//! PostgreSQL: a sync node follows rows changed by `psql`, an async node and a sync node on
//! one schema see each other's writes through the triggers and each other's broadcasts, group
//! sends and sends to a user through the layer, each node pushes its own writes once, and the
//! sync listener reconnects and refreshes after losing its connection.
//!
//! Needs a PostgreSQL server and `psql`: `scripts/test -p chanbind-examples --test capture`.
//! Without `DATABASE_URL` the tests pass with a notice, except under `CI=true`, where they
//! fail. Each test works in its own schema, dropped after.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(200))
                .field(Field::boolean("done").default(false))
                .field(Field::integer("priority").default(0))
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

fn new_schema() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "xcapture_{}_{nanos}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

fn with_application_name(url: &str, name: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={name}")
}

/// Runs SQL in the schema through `psql`, a writer chanbind knows nothing about.
fn psql(url: &str, schema: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atq", "-c"])
        .arg(format!("SET search_path = {schema}; {sql}"))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
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

/// A sync node (blocking store, mio server, listener thread) in `schema`.
struct SyncNode {
    engine: Engine,
    store: Arc<chanbind_sync::postgres::PgStore>,
    server: chanbind_sync::ServerHandle,
    listener: Option<chanbind_sync::postgres::CaptureListener>,
}

async fn sync_node(url: &str, schema: &str) -> SyncNode {
    use chanbind_sync::postgres::{PgConfig, PgStore};
    let config = PgConfig {
        url: with_application_name(url, &format!("{schema}_sync")),
        schema: Some(schema.to_owned()),
        pool_size: 4,
        ..Default::default()
    };
    let store = tokio::task::spawn_blocking(move || {
        let store = PgStore::connect(config).expect("connect");
        store.migrate(&registry()).expect("migrate");
        store.install_capture(&registry()).expect("install capture");
        Arc::new(store)
    })
    .await
    .unwrap();
    let layer = store.layer().expect("layer thread");
    let engine = Engine::builder(registry(), store.clone())
        .limits(Limits::default())
        .allow_anonymous(true)
        .layer(layer)
        .start()
        .await
        .expect("engine");
    let listener = store.listen(engine.clone()).expect("listener thread");
    let ready = tokio::task::block_in_place(|| listener.wait_listening(1, Duration::from_secs(10)));
    assert!(ready, "the sync listener listens");
    let server = chanbind_sync::serve(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        engine.clone(),
        Default::default(),
    )
    .unwrap();
    SyncNode {
        engine,
        store,
        server,
        listener: Some(listener),
    }
}

impl SyncNode {
    async fn finish(mut self, drop_schema: bool) {
        let listener = self.listener.take();
        let (server, store) = (self.server, self.store);
        tokio::task::spawn_blocking(move || {
            drop(listener);
            server.shutdown();
            if drop_schema {
                store.drop_schema().expect("drop schema");
            }
        })
        .await
        .unwrap();
    }
}

/// An async node in `schema`.
struct AsyncNode {
    engine: Engine,
    store: Arc<chanbind_async::postgres::PgStore>,
    server: chanbind_async::ServerHandle,
    _listener: chanbind_async::postgres::CaptureListener,
}

async fn async_node(url: &str, schema: &str) -> AsyncNode {
    use chanbind_async::postgres::{PgConfig, PgStore};
    let config = PgConfig {
        url: with_application_name(url, &format!("{schema}_async")),
        schema: Some(schema.to_owned()),
        pool_size: 4,
        ..Default::default()
    };
    let store = PgStore::connect(config).await.expect("connect");
    store.migrate(&registry()).await.expect("migrate");
    store
        .install_capture(&registry())
        .await
        .expect("install capture");
    let store = Arc::new(store);
    let engine = Engine::builder(registry(), store.clone())
        .limits(Limits::default())
        .allow_anonymous(true)
        .layer(store.layer())
        .start()
        .await
        .expect("engine");
    let listener = store.listen(engine.clone());
    assert!(
        listener.wait_listening(1, Duration::from_secs(10)).await,
        "the async listener listens"
    );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = chanbind_async::serve(tcp, engine.clone(), Default::default()).unwrap();
    AsyncNode {
        engine,
        store,
        server,
        _listener: listener,
    }
}

/// Every frame a client received: the latest data per event and how many frames per event.
#[derive(Default)]
struct Seen {
    latest: HashMap<String, Value>,
    count: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Seen>>;
type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// Connects, sends `requests`, and records every frame in the background.
async fn client(addr: SocketAddr, requests: Vec<Value>) -> (Shared, Sink) {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let seen = Shared::default();
    let recorder = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Some(Ok(msg)) = rx.next().await {
            let Ok(text) = msg.to_text() else { continue };
            let Ok(frame) = serde_json::from_str::<Value>(text) else {
                continue;
            };
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

fn count(seen: &Shared, event: &str) -> usize {
    seen.lock().unwrap().count.get(event).copied().unwrap_or(0)
}

fn watch_requests() -> Vec<Value> {
    vec![
        json!({"event": "todo.Task.retrieve#one", "data": {"id": 1}}),
        json!({"event": "todo.Task.retrieve#two", "data": {"id": 2}}),
        json!({"event": "todo.Task.search#done", "data": {"filters": {"done": true}, "limit": 5}}),
        json!({"event": "todo.Task.search#all", "data": {"limit": 1, "order": "-id"}}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_node_follows_psql_writes() {
    let Some(url) = database_url() else { return };
    let schema = new_schema();
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let node = sync_node(&url, &schema).await;
    psql(
        &url,
        &schema,
        "INSERT INTO todo_task (title) SELECT 'task ' || n FROM generate_series(1, 1000) n",
    );
    let (seen, _tx) = client(node.server.local_addr(), watch_requests()).await;
    // hello and the four replies.
    eventually(&seen, "the replies", |s| s.latest.len() == 5).await;

    psql(
        &url,
        &schema,
        "UPDATE todo_task SET title = 'renamed' WHERE id = 1",
    );
    eventually(&seen, "the update", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "renamed"
    })
    .await;
    psql(&url, &schema, "UPDATE todo_task SET done = true");
    eventually(&seen, "the bulk update", |s| {
        data(s, "todo.Task.search#done")["count"] == 1000
    })
    .await;
    psql(&url, &schema, "DELETE FROM todo_task WHERE id = 2");
    eventually(&seen, "the delete", |s| {
        data(s, "todo.Task.delete#two") == &json!({"id": 2, "deleted": true})
            && data(s, "todo.Task.search#done")["count"] == 999
    })
    .await;
    psql(
        &url,
        &schema,
        "INSERT INTO todo_task (title) VALUES ('from psql')",
    );
    eventually(&seen, "the insert", |s| {
        data(s, "todo.Task.search#all")["rows"][0]["title"] == "from psql"
    })
    .await;

    // The node's own write: one push, not two.
    // Settle first: the bulk update's push for row 1 may still be on its way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = count(&seen, "todo.Task.retrieve#one");
    let (writer, mut tx) = client(node.server.local_addr(), vec![]).await;
    tx.send(Message::text(
        json!({"event": "todo.Task.update#w", "data": {"id": 1, "title": "own"}}).to_string(),
    ))
    .await
    .unwrap();
    eventually(&writer, "the update's reply", |s| {
        s.latest.contains_key("todo.Task.update#w")
    })
    .await;
    eventually(&seen, "the own push", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "own"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&seen, "todo.Task.retrieve#one"),
        before + 1,
        "pushed once"
    );
    node.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_and_a_sync_node_see_each_others_writes() {
    let Some(url) = database_url() else { return };
    let schema = new_schema();
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let a = async_node(&url, &schema).await;
    let b = sync_node(&url, &schema).await;
    psql(
        &url,
        &schema,
        "INSERT INTO todo_task (title) SELECT 'task ' || n FROM generate_series(1, 10) n",
    );
    // Let the seed's notifications pass before anyone subscribes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (on_a, _ta) = client(a.server.local_addr(), watch_requests()).await;
    let (on_b, _tb) = client(b.server.local_addr(), watch_requests()).await;
    eventually(&on_a, "A's replies", |s| s.latest.len() == 5).await;
    eventually(&on_b, "B's replies", |s| s.latest.len() == 5).await;

    // Through B: A hears it from the trigger, B published it in-process.
    let (_, mut via_b) = client(b.server.local_addr(), vec![]).await;
    via_b
        .send(Message::text(
            json!({"event": "todo.Task.update#w", "data": {"id": 1, "title": "via b"}}).to_string(),
        ))
        .await
        .unwrap();
    eventually(&on_a, "B's write on A", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "via b"
    })
    .await;
    eventually(&on_b, "B's write on B", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "via b"
    })
    .await;

    // Through A: the other way round.
    let (_, mut via_a) = client(a.server.local_addr(), vec![]).await;
    via_a
        .send(Message::text(
            json!({"event": "todo.Task.delete#d", "data": {"id": 2}}).to_string(),
        ))
        .await
        .unwrap();
    eventually(&on_b, "A's delete on B", |s| {
        data(s, "todo.Task.delete#two")["deleted"] == true
    })
    .await;
    eventually(&on_a, "A's delete on A", |s| {
        data(s, "todo.Task.delete#two")["deleted"] == true
    })
    .await;

    // From psql: both.
    psql(&url, &schema, "UPDATE todo_task SET done = true");
    eventually(&on_a, "psql on A", |s| {
        data(s, "todo.Task.search#done")["count"] == 9
    })
    .await;
    eventually(&on_b, "psql on B", |s| {
        data(s, "todo.Task.search#done")["count"] == 9
    })
    .await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    for seen in [&on_a, &on_b] {
        // The reply, then "via b" once, then the bulk update once.
        assert_eq!(
            count(seen, "todo.Task.retrieve#one"),
            3,
            "each change pushed once"
        );
    }
    b.finish(false).await;
    a.server.shutdown().await;
    a.store.drop_schema().await.expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_listener_reconnects_and_refreshes() {
    let Some(url) = database_url() else { return };
    let schema = new_schema();
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let node = sync_node(&url, &schema).await;
    psql(
        &url,
        &schema,
        "INSERT INTO todo_task (title) SELECT 't' FROM generate_series(1, 10)",
    );
    let (seen, _tx) = client(
        node.server.local_addr(),
        vec![
            json!({"event": "todo.Task.retrieve#one", "data": {"id": 1}}),
            json!({"event": "todo.Task.search#hi", "data": {"filters": {"priority__gte": 3}}}),
        ],
    )
    .await;
    eventually(&seen, "the replies", |s| s.latest.len() == 3).await;
    // Cut the listener's connection and write while it is away: that notification is lost.
    let cut = psql(
        &url,
        &schema,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{schema}_sync' AND query ILIKE 'LISTEN%'"
        ),
    );
    assert_eq!(cut, "t", "one listener connection was cut");
    psql(
        &url,
        &schema,
        "UPDATE todo_task SET title = 'while away', priority = 4 WHERE id <= 5",
    );
    let listener = node.listener.as_ref().unwrap();
    let back = tokio::task::block_in_place(|| listener.wait_listening(2, Duration::from_secs(10)));
    assert!(back, "the listener reconnects");
    eventually(&seen, "the refresh", |s| {
        data(s, "todo.Task.retrieve#one")["title"] == "while away"
            && data(s, "todo.Task.search#hi")["count"] == 5
    })
    .await;
    node.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_cross_between_an_async_and_a_sync_node() {
    let Some(url) = database_url() else { return };
    let schema = new_schema();
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let a = async_node(&url, &schema).await;
    let b = sync_node(&url, &schema).await;
    let watch = vec![json!({"event": "todo.Task.search#all", "data": {}})];
    let (on_a, _ta) = client(a.server.local_addr(), watch.clone()).await;
    let (on_b, _tb) = client(b.server.local_addr(), watch).await;
    eventually(&on_a, "A's reply", |s| {
        s.latest.contains_key("todo.Task.search#all")
    })
    .await;
    eventually(&on_b, "B's reply", |s| {
        s.latest.contains_key("todo.Task.search#all")
    })
    .await;

    a.engine.broadcast("news", "from_a", &json!({"n": 1}));
    b.engine.broadcast("news", "from_b", &json!({"n": 2}));
    b.engine
        .send_to_group("todo.Task", "ping", &json!({"n": 3}));
    for seen in [&on_a, &on_b] {
        eventually(seen, "both broadcasts and the group send", |s| {
            data(s, "news.from_a") == &json!({"n": 1})
                && data(s, "news.from_b") == &json!({"n": 2})
                && data(s, "todo.Task.ping") == &json!({"n": 3})
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for seen in [&on_a, &on_b] {
        assert_eq!(count(seen, "news.from_a"), 1, "delivered once");
        assert_eq!(count(seen, "news.from_b"), 1, "delivered once");
    }
    b.finish(false).await;
    a.server.shutdown().await;
    a.store.drop_schema().await.expect("drop schema");
}
