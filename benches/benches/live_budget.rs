//! Live-query amplification: the latency of an unrelated `retrieve` while every write of
//! another stream touches N distinct live searches, with the refresh budget
//! (`refresh_concurrency: 4`) and without it (as many refreshes at once as there are queries).
//!
//! The store is the in-memory one behind a stand-in for a database: a pool of 8 connections,
//! each op holding one for 1 ms. That is what makes unbounded refreshes hurt: every write
//! queues N re-reads on the pool, and the retrieve waits behind them.
//!
//! Run with `cargo bench -p chanbind-benches --bench live_budget -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::config::Limits;
use chanbind_engine::outbound::Outbound;
use chanbind_engine::protocol::Frame;
use chanbind_engine::session::Step;
use chanbind_engine::store::{MemoryStore, Store, StoreFuture, StoreOp};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::sync::Semaphore;

/// Distinct live searches every write touches.
const LIVE: usize = 500;
/// The stand-in database's pool.
const POOL: usize = 8;
/// How long one op holds a pooled connection.
const OP: Duration = Duration::from_millis(1);

/// The in-memory store behind a pool of `POOL` connections of `OP` each.
struct Pooled {
    inner: MemoryStore,
    pool: Semaphore,
}

impl Store for Pooled {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        Box::pin(async move {
            let _conn = self.pool.acquire().await;
            tokio::time::sleep(OP).await;
            self.inner.execute(op).await
        })
    }

    fn kind(&self) -> &'static str {
        "pooled memory"
    }
}

/// A connection that takes every frame and drops it.
struct Sink;

impl Outbound for Sink {
    fn send(&self, _frame: Frame) -> bool {
        true
    }
}

fn run_job(rt: &tokio::runtime::Runtime, step: Step) {
    match step {
        Step::Run(job) => rt.block_on(job.run()),
        Step::Reply(frame) => panic!("unexpected reply {frame:?}"),
    }
}

fn live_budget(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("unrelated retrieve while 500 live searches refresh per write");
    g.sample_size(20);
    for (name, refresh_concurrency) in [("budget 4", 4), ("no budget", LIVE * 2)] {
        let registry = demo::registry().expect("demo bindings");
        let inner = MemoryStore::new(&registry);
        rt.block_on(demo::seed(&registry, &inner)).expect("seed");
        let store = Arc::new(Pooled {
            inner,
            pool: Semaphore::new(POOL),
        });
        let limits = Limits {
            refresh_concurrency,
            max_live_queries: LIVE,
            max_subscriptions: LIVE * 2,
            ..Limits::default()
        };
        let engine = rt
            .block_on(async { Engine::start(registry, store, limits).await })
            .expect("engine");
        let mut watcher = engine.open_session(None, Arc::new(Sink));
        for i in 0..LIVE {
            let text = format!(
                r#"{{"event":"todo.Task.search#q{i}","data":{{"filters":{{"priority__lte":{}}}}}}}"#,
                3 + i
            );
            run_job(&rt, watcher.handle_text(&text));
        }
        // A writer touches every live search, continuously, while the retrieves are timed.
        let writing = Arc::new(AtomicBool::new(true));
        let writer = {
            let engine = engine.clone();
            let writing = Arc::clone(&writing);
            rt.spawn(async move {
                let mut session = engine.open_session(None, Arc::new(Sink));
                let mut n = 0u64;
                while writing.load(Ordering::Relaxed) {
                    n += 1;
                    let text = format!(
                        r#"{{"event":"todo.Task.update","data":{{"id":2,"title":"w{n}"}}}}"#
                    );
                    if let Step::Run(job) = session.handle_text(&text) {
                        job.run().await;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let mut reader = engine.open_session(None, Arc::new(Sink));
        let text = r#"{"event":"auth.User.retrieve","data":{"id":42,"subscribe":false}}"#;
        g.bench_function(name, |b| {
            b.iter(|| run_job(&rt, reader.handle_text(black_box(text))))
        });
        writing.store(false, Ordering::Relaxed);
        rt.block_on(writer).expect("writer");
        drop(watcher);
    }
    g.finish();
}

criterion_group!(benches, live_budget);
criterion_main!(benches);
