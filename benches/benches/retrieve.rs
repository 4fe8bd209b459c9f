//! A `retrieve` through the whole engine (decode, plan, row lock, subscription, store, render,
//! encode, queue) on the in-memory store, against the bare store read as baseline.
//!
//! Run with `cargo bench -p chanbind-benches --bench retrieve`.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chanbind_engine::filter::Filter;
use chanbind_engine::outbound::Outbound;
use chanbind_engine::protocol::Frame;
use chanbind_engine::session::Step;
use chanbind_engine::store::{MemoryStore, StoreOp};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use criterion::{criterion_group, criterion_main, Criterion};

/// An outbound queue that only counts, standing in for a socket.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Outbound for Counting {
    fn send(&self, _frame: Frame) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

fn retrieve(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = demo::registry().expect("demo bindings");
    let store = MemoryStore::new(&registry);
    let users = Arc::clone(registry.get("auth.User").expect("auth.User"));
    rt.block_on(demo::seed(&registry, &store)).expect("seed");
    let engine = rt
        .block_on(Engine::start(
            registry,
            Arc::new(store.clone()),
            chanbind_benches::bench_limits(),
        ))
        .expect("engine");
    let out = Arc::new(Counting::default());

    let mut g = c.benchmark_group("retrieve");
    g.bench_function("baseline MemoryStore get", |b| {
        b.iter(|| {
            store.execute_now(StoreOp::Get {
                binding: Arc::clone(&users),
                pk: black_box(42.into()),
                scope: Filter::everything(),
            })
        })
    });
    for (name, text) in [
        (
            "engine retrieve, no subscription",
            r#"{"event":"auth.User.retrieve","data":{"id":42,"subscribe":false}}"#,
        ),
        (
            "engine retrieve, subscribing",
            r#"{"event":"auth.User.retrieve#w","data":{"id":42}}"#,
        ),
    ] {
        let mut session = engine.open_session(None, out.clone());
        g.bench_function(name, |b| {
            b.iter(|| match session.handle_text(black_box(text)) {
                Step::Run(job) => rt.block_on(job.run()),
                Step::Reply(frame) => panic!("unexpected reply {frame:?}"),
            })
        });
    }
    g.finish();
    assert!(out.0.load(Ordering::Relaxed) > 0, "replies were queued");
}

criterion_group!(benches, retrieve);
criterion_main!(benches);
