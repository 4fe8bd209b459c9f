//! Ten writes as one `batch` (one transaction) against the same ten writes sent one at a
//! time, through the whole engine (decode, plan, hooks, store, render, encode, queue): on the
//! in-memory store, and on the tokio PostgreSQL store when `DATABASE_URL` is set (in a schema
//! of its own, dropped at the end). Each iteration writes ten rows either way, so the two
//! throughputs compare directly.
//!
//! Run with `cargo bench -p chanbind-benches --bench batch`, with
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test` for PostgreSQL too.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::outbound::Outbound;
use chanbind_engine::protocol::Frame;
use chanbind_engine::session::Step;
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

/// The writes of one iteration.
const WRITES: usize = 10;

/// An outbound queue that only counts, standing in for a socket.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Outbound for Counting {
    fn send(&self, _frame: Frame) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

fn registry() -> Registry {
    Registry::new()
        .model(ModelBinding::new("shop_order").field(Field::string("title").required()))
        .expect("orders")
        .model(
            ModelBinding::new("shop_line")
                .field(Field::foreign_key("order_id", "shop.Order"))
                .field(Field::integer("qty").required().min(1)),
        )
        .expect("lines")
}

fn measure(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: Arc<dyn Store>) {
    let engine = rt
        .block_on(Engine::start(
            registry(),
            store,
            chanbind_benches::bench_limits(),
        ))
        .expect("engine");
    let out = Arc::new(Counting::default());
    let mut session = engine.open_session(None, out.clone());
    let mut run = |text: &str| match session.handle_text(black_box(text)) {
        Step::Run(job) => rt.block_on(job.run()),
        Step::Reply(frame) => panic!("unexpected reply {frame:?}"),
    };
    run(&json!({"event": "shop.Order.create", "data": {"title": "o"}}).to_string());
    let line =
        |qty: usize| json!({"event": "shop.Line.create", "data": {"order_id": 1, "qty": qty}});
    let singles: Vec<String> = (1..=WRITES).map(|q| line(q).to_string()).collect();
    let batch =
        json!({"event": "batch", "data": {"steps": (1..=WRITES).map(line).collect::<Vec<_>>()}})
            .to_string();

    let mut g = c.benchmark_group(format!("batch/{name}"));
    g.throughput(Throughput::Elements(WRITES as u64));
    g.bench_function("baseline: 10 single creates", |b| {
        b.iter(|| singles.iter().for_each(|text| run(text)))
    });
    g.bench_function("one batch of 10 creates", |b| b.iter(|| run(&batch)));
    g.finish();
    assert!(out.0.load(Ordering::Relaxed) > 0, "replies were queued");
}

fn batch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = registry();
    measure(c, &rt, "memory", Arc::new(MemoryStore::new(&registry)));

    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("batch bench: DATABASE_URL is not set; PostgreSQL not measured");
        return;
    };
    let config = PgConfig {
        url,
        schema: Some(format!("bench_batch_{}", std::process::id())),
        pool_size: 4,
        ..Default::default()
    };
    let store = Arc::new(rt.block_on(PgStore::connect(config)).expect("connect"));
    rt.block_on(store.migrate(&registry)).expect("migrate");
    measure(c, &rt, "postgres", store.clone());
    rt.block_on(store.drop_schema())
        .expect("drop the bench schema");
}

criterion_group!(benches, batch);
criterion_main!(benches);
