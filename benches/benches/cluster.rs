//! Two nodes on one PostgreSQL: a change made on node A reaching 1,000 subscribers on node B
//! through the PostgreSQL channel layer, against the same change made on node B itself, in one
//! run; and a group send from A to 1,000 members on B, against the same send made on B.
//!
//! Node A and node B are two [`Engine`]s in this process, each with its own [`PgStore`] (its
//! own pool and origin), its own PostgreSQL layer and its own listener, on one schema: what a
//! second server process would have, minus the network. They share the runtime and the
//! machine's cores, as two processes on one host would. No capture triggers are installed:
//! writes made through chanbind travel by the layer, not by the triggers.
//!
//! The change is an actual `todo.Task.update` of row 1 run through a session of the writing
//! node, with a new title every time (an update that changes nothing is not published). On B it
//! is the write, then the fan-out; made on A, it is the write, then A's layer sends the row's
//! key (`LayerMessage::Changes`, no row), B's listener hears it, re-reads the row through B's
//! store and fans it out. Each figure runs from sending the update to the last of the 1,000
//! deliveries. `publish on B` is the fan-out alone, a prebuilt change with no write, as the
//! `fanout` bench measures it. The group send is `send_to_group` on `custom_stream`, whose
//! group B's 1,000 connections joined; made on A, it travels whole in the layer's `NOTIFY`,
//! with no read on B.
//!
//! Every message a node sends also goes to the other one, so B's own writes and sends keep A
//! busy in the background, as in a cluster (A hears B's changed rows but reads none: no one on
//! A watches `todo.Task`). Before each benchmark the bench waits until A has
//! heard all of B's, so no backlog spills into the next figure. Criterion prints elements
//! (deliveries) per second; quote the remote figures as ratios to the local ones.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test cargo bench -p
//! chanbind-benches --bench cluster`. Without `DATABASE_URL` it prints a notice and measures
//! nothing. It works in a schema of its own, dropped at the end.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_async::postgres::{CaptureListener, PgConfig, PgStore};
use chanbind_engine::binding::Registry;
use chanbind_engine::change::{Change, ChangeKind};
use chanbind_engine::filter::Filter;
use chanbind_engine::outbound::Outbound;
use chanbind_engine::protocol::Frame;
use chanbind_engine::session::{Session, Step};
use chanbind_engine::store::{Store, StoreOp, StoreOutput};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

/// Subscribers on node B.
const SUBSCRIBERS: usize = 1_000;

/// Counts frames, standing in for a socket's queue.
struct Counting(Arc<AtomicUsize>);

impl Outbound for Counting {
    fn send(&self, frame: Frame) -> bool {
        black_box(frame);
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// Waits until `target` deliveries were counted, yielding between polls: on a machine of
/// two cores a spinning waiter would take a core from the runtime and PostgreSQL, which do
/// the work measured. Local and remote figures wait alike, so the ratio stays fair.
fn wait_for(counter: &AtomicUsize, target: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "deliveries stalled");
        std::thread::yield_now();
    }
}

/// One node: its store, its engine (with the PostgreSQL layer) and its listener, which hears
/// the other node's layer messages.
struct Node {
    store: Arc<PgStore>,
    engine: Engine,
    _listener: CaptureListener,
}

/// Starts a node on `schema`. Every node migrates, as a server does at start-up; the second
/// finds the tables made and only registers the bindings.
async fn node(url: &str, schema: &str, registry: &Registry) -> Node {
    let config = PgConfig {
        url: url.to_owned(),
        schema: Some(schema.to_owned()),
        pool_size: 4,
        ..Default::default()
    };
    let store = Arc::new(PgStore::connect(config).await.expect("connect"));
    store.migrate(registry).await.expect("migrate");
    let engine = Engine::builder(registry.clone(), store.clone())
        .limits(chanbind_benches::bench_limits())
        .allow_anonymous(true)
        .layer(store.layer())
        .start()
        .await
        .expect("engine");
    let listener = store.listen(engine.clone());
    // Layer messages sent before the listener listens are lost.
    assert!(
        listener.wait_listening(1, Duration::from_secs(10)).await,
        "listening"
    );
    Node {
        store,
        engine,
        _listener: listener,
    }
}

/// Waits until the other node has heard everything node `from` sent through its layer so far:
/// a group send to `auth.User`, whose only member is the other node's connection counting on
/// `barrier`. The layer sends in order and the listener hears in order, so it arrives last
/// (the listener delivers it at once; at most the re-reads of the rows heard with it remain).
/// Without it, the backlog of a fast benchmark (tens of thousands of messages, each one for
/// the other node) drains for seconds, and would be measured in the next one.
fn settle(from: &Node, barrier: &AtomicUsize) {
    let target = barrier.load(Ordering::Relaxed) + 1;
    from.engine.send_to_group("auth.User", "settle", &json!({}));
    let deadline = Instant::now() + Duration::from_secs(120);
    while barrier.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "the layer did not drain");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs one request through `session` to completion; it must need the store.
fn run(rt: &tokio::runtime::Runtime, session: &mut Session, text: &str) {
    match session.handle_text(text) {
        Step::Run(job) => rt.block_on(job.run()),
        Step::Reply(f) => panic!("{f:?}"),
    }
}

fn cluster(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("cluster bench: DATABASE_URL is not set; nothing measured");
        return;
    };
    // A worker per core of the machine the README's figures come from.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let schema = format!("bench_cluster_{}", std::process::id());
    let registry = demo::registry().expect("demo bindings");
    let (a, b) = rt.block_on(async {
        let a = node(&url, &schema, &registry).await;
        demo::seed(&registry, a.store.as_ref()).await.expect("seed");
        let b = node(&url, &schema, &registry).await;
        (a, b)
    });

    // B's 1,000 connections each watch task 1 and belong to custom_stream's group.
    let counter = Arc::new(AtomicUsize::new(0));
    let subscribers: Vec<Session> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut s = b
                .engine
                .open_session(None, Arc::new(Counting(Arc::clone(&counter))));
            run(
                &rt,
                &mut s,
                r#"{"event":"todo.Task.retrieve","data":{"id":1}}"#,
            );
            // Joining takes any permitted event; a failing custom event still joins.
            run(
                &rt,
                &mut s,
                r#"{"event":"custom_stream.custom_event","data":{}}"#,
            );
            s
        })
        .collect();
    // The watches and joins are messages to the actors; let them land before the clock runs.
    wait_for(&counter, 2 * SUBSCRIBERS);
    std::thread::sleep(Duration::from_millis(200));

    // One connection on A, alone in auth.User's group, tells when A has caught up with B.
    let barrier = Arc::new(AtomicUsize::new(0));
    let mut watcher_a = a
        .engine
        .open_session(None, Arc::new(Counting(Arc::clone(&barrier))));
    run(
        &rt,
        &mut watcher_a,
        r#"{"event":"auth.User.retrieve","data":{"id":1}}"#,
    );
    settle(&b, &barrier);

    // The writers' replies go elsewhere, so the counter sees only the subscribers' frames. A
    // failed write publishes nothing, and `wait_for` says so.
    let replies = Arc::new(AtomicUsize::new(0));
    let mut writer_a = a
        .engine
        .open_session(None, Arc::new(Counting(Arc::clone(&replies))));
    let mut writer_b = b
        .engine
        .open_session(None, Arc::new(Counting(Arc::clone(&replies))));
    let tasks = Arc::clone(registry.get("todo.Task").expect("todo.Task"));
    let row = match rt.block_on(b.store.execute(StoreOp::Get {
        binding: tasks,
        pk: 1.into(),
        scope: Filter::everything(),
    })) {
        Ok(StoreOutput::Row(Some(row))) => row,
        other => panic!("task 1: {other:?}"),
    };
    let change = Change {
        stream: "todo.Task".into(),
        pk: 1.into(),
        kind: ChangeKind::Updated,
        old: Some(row.clone()),
        new: Some(row),
        cascaded: Vec::new(),
    };

    let mut g = c.benchmark_group("one change to 1000 subscribers on node B");
    g.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    // The fan-out alone. B's layer still tells A, as it would in a cluster.
    g.bench_function("publish on B", |bench| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let target = counter.load(Ordering::Relaxed) + SUBSCRIBERS;
                b.engine.publish(change.clone());
                wait_for(&counter, target);
            }
            start.elapsed()
        })
    });
    settle(&b, &barrier);
    // A title never used before, so every update changes the row and is published.
    let mut n = 0u64;
    let mut write = |bench: &mut criterion::Bencher<'_>, writer: &mut Session| {
        bench.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                n += 1;
                let target = counter.load(Ordering::Relaxed) + SUBSCRIBERS;
                let text = format!(
                    r#"{{"event":"todo.Task.update","data":{{"id":1,"title":"cluster {n}"}}}}"#
                );
                run(&rt, writer, &text);
                wait_for(&counter, target);
            }
            start.elapsed()
        })
    };
    g.bench_function("write through B (local)", |bench| {
        write(bench, &mut writer_b)
    });
    settle(&b, &barrier);
    g.bench_function("write through A (remote)", |bench| {
        write(bench, &mut writer_a)
    });
    g.finish();

    let mut g = c.benchmark_group("group send to 1000 members on node B");
    g.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    for (name, from) in [("from B (local)", &b), ("from A (remote)", &a)] {
        settle(&b, &barrier);
        g.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let target = counter.load(Ordering::Relaxed) + SUBSCRIBERS;
                    from.engine.send_to_group(
                        "custom_stream",
                        "custom_group_event",
                        &json!({"msg": "hello"}),
                    );
                    wait_for(&counter, target);
                }
                start.elapsed()
            })
        });
    }
    g.finish();

    drop((subscribers, writer_a, writer_b, watcher_a, b));
    rt.block_on(async {
        a.store.drop_schema().await.expect("drop schema");
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(20);
    targets = cluster
}
criterion_main!(benches);
