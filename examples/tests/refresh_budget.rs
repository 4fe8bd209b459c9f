//! Live-query refreshes run under `refresh_concurrency`: one write that touches many distinct
//! live queries never has more than that many of their re-reads in the store at once, and
//! every subscriber still gets its push (queued refreshes wait, they are not dropped).
//!
//! Runs on the async adapter over the in-memory store and PostgreSQL (`DATABASE_URL`;
//! required under `CI=true`); the budget is the engine's, shared by both adapters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::config::Limits;
use chanbind_engine::store::{MemoryStore, Store, StoreFuture, StoreOp};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const QUERIES: usize = 24;
const BUDGET: usize = 2;

/// A store whose searches take a while, counting how many run at once.
struct SlowSearches {
    inner: Arc<dyn Store>,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Store for SlowSearches {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        let search = matches!(op, StoreOp::Search { .. });
        Box::pin(async move {
            if !search {
                return self.inner.execute(op).await;
            }
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            let out = self.inner.execute(op).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            out
        })
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

async fn run(store: Arc<dyn Store>) {
    let registry = demo::registry().expect("bindings");
    demo::seed(&registry, store.as_ref()).await.expect("seed");
    let slow = Arc::new(SlowSearches {
        inner: store,
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    });
    let limits = Limits {
        refresh_concurrency: BUDGET,
        ..Limits::default()
    };
    let engine = Engine::start(registry, slow.clone(), limits)
        .await
        .expect("engine");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = chanbind_async::serve(listener, engine, Default::default()).expect("serve");
    let addr: SocketAddr = server.local_addr();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("connect");
    let hello = ws.next().await.expect("open").expect("hello");
    assert!(hello.to_text().expect("text").contains("\"hello\""));
    for i in 0..QUERIES {
        // Distinct queries that all hold task 2.
        let frame = json!({"event": format!("todo.Task.search#q{i}"), "data": {"filters": {"priority__lte": 3 + i}}});
        ws.send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }
    let mut replies = 0;
    while replies < QUERIES {
        let msg = ws.next().await.expect("open").expect("frame");
        let frame: Value = serde_json::from_str(msg.to_text().expect("text")).expect("JSON");
        assert!(frame.get("error").is_none(), "{frame}");
        replies += 1;
    }
    slow.most.store(0, Ordering::SeqCst);
    let update = json!({"event": "todo.Task.update", "data": {"id": 2, "title": "touched"}});
    ws.send(Message::text(update.to_string()))
        .await
        .expect("send");
    let mut pushes = std::collections::HashSet::new();
    while pushes.len() < QUERIES {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("every push in time")
            .expect("open")
            .expect("frame");
        let frame: Value = serde_json::from_str(msg.to_text().expect("text")).expect("JSON");
        let event = frame["event"].as_str().unwrap_or_default().to_owned();
        if event.starts_with("todo.Task.search#q") {
            assert_eq!(frame["data"]["rows"][1]["title"], "touched", "{frame}");
            pushes.insert(event);
        }
    }
    let most = slow.most.load(Ordering::SeqCst);
    assert!(
        most <= BUDGET,
        "{most} refreshes ran at once; the budget is {BUDGET}"
    );
    drop(ws);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_stay_within_the_budget_on_the_memory_store() {
    let registry = demo::registry().expect("bindings");
    run(Arc::new(MemoryStore::new(&registry))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_stay_within_the_budget_on_postgres() {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "DATABASE_URL is required under CI=true"
            );
            return;
        }
    };
    let store = PgStore::connect(PgConfig {
        url,
        schema: Some(format!(
            "refresh_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        )),
        pool_size: 8,
        ..PgConfig::default()
    })
    .await
    .expect("connect");
    store
        .migrate(&demo::registry().expect("bindings"))
        .await
        .expect("migrate");
    let store = Arc::new(store);
    run(store.clone()).await;
    store.drop_schema().await.expect("drop schema");
}
