//! One change reaching N subscribers through the engine (stream actor, one encode, N queue
//! pushes), against encoding the push once per subscriber as baseline; and one group send to
//! 100 members.
//!
//! Run with `cargo bench -p chanbind-benches --bench fanout`. Criterion prints elements per
//! second; divide a time by N for the cost per delivery.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::change::{Change, ChangeKind};
use chanbind_engine::config::Limits;
use chanbind_engine::outbound::Outbound;
use chanbind_engine::permission::View;
use chanbind_engine::protocol::{encode_reply, Frame};
use chanbind_engine::session::{render_row, Session, Step};
use chanbind_engine::store::MemoryStore;
use chanbind_engine::Engine;
use chanbind_examples::demo;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

/// Counts frames, standing in for a socket's queue.
struct Counting(Arc<AtomicUsize>);

impl Outbound for Counting {
    fn send(&self, frame: Frame) -> bool {
        black_box(frame);
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// Waits until `target` deliveries were counted: spinning for latency figures, or, when
/// `patient`, yielding between polls so the waiting thread does not fight the actor's thread
/// for the counter's cache line (which would be measured as fan-out cost).
fn wait_for(counter: &AtomicUsize, target: usize, patient: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "deliveries stalled");
        if patient {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

fn fanout(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = demo::registry().expect("demo bindings");
    let store = MemoryStore::new(&registry);
    rt.block_on(demo::seed(&registry, &store)).expect("seed");
    let users = Arc::clone(registry.get("auth.User").expect("auth.User"));
    let engine = rt
        .block_on(Engine::start(
            registry,
            Arc::new(store),
            Limits {
                max_subscriptions: 10,
                ..chanbind_benches::bench_limits()
            },
        ))
        .expect("engine");
    let row = json!({"id": 42, "username": "user041", "email": "user041@example.com", "is_active": true,
                     "date_joined": "2026-11-26T09:39:38.000000Z"});
    let row = row.as_object().cloned().unwrap_or_default();
    let change = Change {
        stream: "auth.User".into(),
        pk: 42.into(),
        kind: ChangeKind::Updated,
        old: Some(row.clone()),
        new: Some(row.clone()),
        cascaded: Vec::new(),
    };

    let mut g = c.benchmark_group("one change to N subscribers");
    let counter = Arc::new(AtomicUsize::new(0));
    let mut sessions: Vec<Session> = Vec::new();
    for n in [1usize, 100, 1_000, 10_000] {
        while sessions.len() < n {
            let mut s = engine.open_session(None, Arc::new(Counting(Arc::clone(&counter))));
            match s.handle_text(r#"{"event":"auth.User.retrieve","data":{"id":42}}"#) {
                Step::Run(job) => rt.block_on(job.run()),
                Step::Reply(f) => panic!("{f:?}"),
            }
            sessions.push(s);
        }
        g.throughput(Throughput::Elements(n as u64));
        // Latency: one change, then wait for its last delivery. Includes waking the actor's
        // thread, which dominates at small N.
        g.bench_with_input(BenchmarkId::new("engine, one at a time", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let target = counter.load(Ordering::Relaxed) + n;
                    engine.publish(change.clone());
                    wait_for(&counter, target, false);
                }
                start.elapsed()
            })
        });
        // Throughput: changes published back to back, as under load; the time per change is
        // the fan-out's own cost.
        g.bench_with_input(BenchmarkId::new("engine, 64 in flight", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(64);
                    // The changes are made before the clock starts: a store makes a fresh one
                    // per write, and making it is not fan-out.
                    let changes: Vec<Change> = (0..batch).map(|_| change.clone()).collect();
                    let target = counter.load(Ordering::Relaxed) + n * batch as usize;
                    let start = Instant::now();
                    for change in changes {
                        engine.publish(change);
                    }
                    wait_for(&counter, target, true);
                    elapsed += start.elapsed();
                    left -= batch;
                }
                elapsed
            })
        });
        if n <= 1_000 {
            let everything = View::everything();
            let outs: Vec<Counting> = (0..n)
                .map(|_| Counting(Arc::new(AtomicUsize::new(0))))
                .collect();
            g.bench_with_input(
                BenchmarkId::new("baseline encode per subscriber", n),
                &n,
                |b, _| {
                    b.iter(|| {
                        for out in &outs {
                            out.send(encode_reply(
                                "auth.User.retrieve",
                                &render_row(&users, &row, &everything),
                            ));
                        }
                    })
                },
            );
        }
    }
    g.finish();

    // A group of 100: the custom_stream's members, reached by one dispatch.
    let group_counter = Arc::new(AtomicUsize::new(0));
    let members: Vec<Session> = (0..100)
        .map(|_| {
            let mut s = engine.open_session(None, Arc::new(Counting(Arc::clone(&group_counter))));
            // Joining takes any permitted event; a failing custom event still joins.
            match s.handle_text(r#"{"event":"custom_stream.custom_event","data":{}}"#) {
                Step::Run(job) => rt.block_on(job.run()),
                Step::Reply(f) => panic!("{f:?}"),
            }
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    c.bench_function("group send to 100 members", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let target = group_counter.load(Ordering::Relaxed) + 100;
                engine.send_to_group(
                    "custom_stream",
                    "custom_group_event",
                    &json!({"msg": "hello"}),
                );
                wait_for(&group_counter, target, false);
            }
            start.elapsed()
        })
    });
    drop(members);
    drop(sessions);
}

criterion_group!(benches, fanout);
criterion_main!(benches);
