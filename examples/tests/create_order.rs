//! A create's change is published before any later change to the new row: a change feed
//! never ends on the stale created row.
//!
//! The race is rare on its own (a second connection must update the new id between the
//! insert's commit and the create's publish), so the store here holds every create at exactly
//! that point: committed, not yet returned. While it is held, a second connection updates the
//! new row, and the update commits; the feed is given a moment to show what the update
//! published (before the fix, its `updated` arrived here); then the create goes on. The feed
//! must show `created`, then `updated`.
//!
//! Runs on both adapters, each on the in-memory store and on PostgreSQL (`DATABASE_URL`;
//! required under `CI=true`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::config::Limits;
use chanbind_engine::store::{MemoryStore, Store, StoreFuture, StoreOp, StoreOutput};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

const ROUNDS: usize = 20;
const WAIT: Duration = Duration::from_secs(10);

/// A store that, while armed, holds each committed insert until the test releases it, after
/// telling the test the new id; and tells the test of each committed update.
struct HeldCreates {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
    created: mpsc::UnboundedSender<Committed>,
    release: Semaphore,
}

/// A write the store has committed.
#[derive(Debug, PartialEq)]
enum Committed {
    Insert(i64),
    Update(i64),
}

impl Store for HeldCreates {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        let insert = matches!(op, StoreOp::Insert { .. });
        Box::pin(async move {
            let out = self.inner.execute(op).await;
            if let (true, Ok(StoreOutput::Changed(Some(change)))) =
                (self.armed.load(Ordering::Acquire), &out)
            {
                if insert {
                    let _ = self
                        .created
                        .send(Committed::Insert(change.pk.as_i64().unwrap_or_default()));
                    if let Ok(permit) = self.release.acquire().await {
                        permit.forget();
                    }
                } else {
                    let _ = self
                        .created
                        .send(Committed::Update(change.pk.as_i64().unwrap_or_default()));
                }
            }
            out
        })
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn is_blocking(&self) -> bool {
        self.inner.is_blocking()
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("connect");
    let hello = next(&mut ws).await;
    assert_eq!(hello["event"], "hello");
    ws
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

async fn next(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame in time")
        .expect("open")
        .expect("a frame");
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

/// The next write the store committed.
async fn committed(writes: &mut mpsc::UnboundedReceiver<Committed>) -> Committed {
    tokio::time::timeout(WAIT, writes.recv())
        .await
        .expect("a write in time")
        .expect("a write")
}

#[derive(Clone, Copy)]
enum Adapter {
    Async,
    Sync,
}

async fn run(adapter: Adapter, store: Arc<dyn Store>) {
    let registry = demo::registry().expect("bindings");
    let seeding = Arc::clone(&store);
    let registry = tokio::task::spawn_blocking(move || {
        futures_executor::block_on(demo::seed(&registry, seeding.as_ref())).expect("seed");
        registry
    })
    .await
    .expect("seed task");
    let (created_tx, mut created) = mpsc::unbounded_channel();
    let held = Arc::new(HeldCreates {
        inner: store,
        armed: AtomicBool::new(true),
        created: created_tx,
        release: Semaphore::new(0),
    });
    let engine = Engine::start(registry, held.clone(), Limits::default())
        .await
        .expect("engine");
    let (addr, stop): (SocketAddr, Box<dyn FnOnce() -> tokio::task::JoinHandle<()>>) = match adapter
    {
        Adapter::Async => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let server =
                chanbind_async::serve(listener, engine, Default::default()).expect("serve");
            (
                server.local_addr(),
                Box::new(move || tokio::spawn(server.shutdown())),
            )
        }
        Adapter::Sync => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let server = chanbind_sync::serve(listener, engine, Default::default()).expect("serve");
            (
                server.local_addr(),
                Box::new(move || {
                    tokio::task::spawn_blocking(move || {
                        server.shutdown();
                    })
                }),
            )
        }
    };

    let mut feed = connect(addr).await;
    send(
        &mut feed,
        json!({"event": "todo.Task.subscribe", "data": {}}),
    )
    .await;
    assert_eq!(next(&mut feed).await["data"], json!({"success": true}));
    let mut creator = connect(addr).await;
    let mut updater = connect(addr).await;

    for round in 0..ROUNDS {
        send(
            &mut creator,
            json!({"event": "todo.Task.create", "data": {"title": format!("created {round}")}}),
        )
        .await;
        let Committed::Insert(pk) = committed(&mut created).await else {
            panic!("the create commits first")
        };
        // The row is committed and the create not yet published: update it now.
        let title = format!("updated {round}");
        send(
            &mut updater,
            json!({"event": "todo.Task.update", "data": {"id": pk, "title": title}}),
        )
        .await;
        assert_eq!(committed(&mut created).await, Committed::Update(pk));
        // Whatever the update publishes now reaches the feed before the create goes on. (The
        // sync adapter sends a connection's replies once its request is done, so the update's
        // reply cannot be awaited here.)
        let early = match tokio::time::timeout(Duration::from_millis(200), feed.next()).await {
            Ok(Some(Ok(msg))) => {
                Some(serde_json::from_str::<Value>(msg.to_text().expect("text")).expect("JSON"))
            }
            Ok(other) => panic!("the feed ended: {other:?}"),
            Err(_) => None,
        };
        held.release.add_permits(1);
        let reply = next(&mut creator).await;
        assert_eq!(reply["data"]["id"], pk, "{reply}");
        let reply = next(&mut updater).await;
        assert_eq!(reply["data"]["success"], true, "{reply}");

        let first = match early {
            Some(frame) => frame,
            None => next(&mut feed).await,
        };
        let second = next(&mut feed).await;
        let seen = [&first, &second].map(|f| (f["event"].clone(), f["data"]["id"].clone()));
        assert_eq!(
            seen,
            [
                (json!("todo.Task.created"), json!(pk)),
                (json!("todo.Task.updated"), json!(pk)),
            ],
            "round {round}: the feed must end on the update"
        );
        assert_eq!(second["data"]["title"], title);
    }
    held.armed.store(false, Ordering::Release);
    drop((feed, creator, updater));
    stop().await.expect("shutdown");
}

fn postgres_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "DATABASE_URL is required under CI=true"
            );
            eprintln!("DATABASE_URL is not set; skipping the PostgreSQL run");
            None
        }
    }
}

fn schema() -> String {
    format!(
        "create_order_{}_{}",
        std::process::id(),
        rand::random::<u32>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_before_updated_on_the_memory_store() {
    let registry = demo::registry().expect("bindings");
    run(Adapter::Async, Arc::new(MemoryStore::new(&registry))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_before_updated_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let store = PgStore::connect(PgConfig {
        url,
        schema: Some(schema()),
        pool_size: 4,
        ..Default::default()
    })
    .await
    .expect("connect");
    store
        .migrate(&demo::registry().expect("bindings"))
        .await
        .expect("migrate");
    let store = Arc::new(store);
    run(Adapter::Async, store.clone()).await;
    store.drop_schema().await.expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_before_updated_on_the_sync_adapter_and_memory_store() {
    let registry = demo::registry().expect("bindings");
    run(Adapter::Sync, Arc::new(MemoryStore::new(&registry))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_before_updated_on_the_sync_adapter_and_postgres() {
    use chanbind_sync::postgres as sync_pg;
    let Some(url) = postgres_url() else { return };
    let store = tokio::task::spawn_blocking(move || {
        let store = sync_pg::PgStore::connect(sync_pg::PgConfig {
            url,
            schema: Some(schema()),
            pool_size: 4,
            ..Default::default()
        })
        .expect("connect");
        store
            .migrate(&demo::registry().expect("bindings"))
            .expect("migrate");
        Arc::new(store)
    })
    .await
    .expect("connect task");
    run(Adapter::Sync, store.clone()).await;
    tokio::task::spawn_blocking(move || store.drop_schema().expect("drop schema"))
        .await
        .expect("drop task");
}
