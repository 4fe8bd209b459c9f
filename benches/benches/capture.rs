//! Change capture on a real PostgreSQL: update throughput through the store with the capture
//! triggers installed, against the same updates without them, in one run; and the latency
//! from an outside `UPDATE` (a plain tokio-postgres client) to the push reaching a WebSocket
//! subscriber of a node with capture on.
//!
//! Last, outside of criterion, the same latency under load: outside updates paced at 1,000 per
//! second over 100 watched rows for 3 seconds, printed as p50, p99 and max; and one outside
//! `UPDATE` of 1,000 rows until a change feed over them has pushed every row, against the
//! `UPDATE`'s own time.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test cargo bench -p
//! chanbind-benches --bench capture`. Without `DATABASE_URL` it prints a notice and measures
//! nothing. It works in a schema of its own, dropped at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::filter::Filter;
use chanbind_engine::store::{Store, StoreOp};
use chanbind_engine::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message;

/// Rows the writers update, round robin.
const ROWS: i64 = 100;
/// Concurrent writers in the throughput benchmark.
const WRITERS: u64 = 8;

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(200))
                .field(Field::integer("priority").default(0)),
        )
        .expect("a valid registry")
}

fn update(binding: &Arc<ModelBinding>, pk: i64, n: u64) -> StoreOp {
    let mut values = Map::new();
    values.insert("title".into(), Value::String(format!("t{n}")));
    StoreOp::Update {
        binding: Arc::clone(binding),
        pk: pk.into(),
        values,
        scope: Filter::everything(),
    }
}

/// `WRITERS` tasks share `iters` updates; returns the wall time they took.
async fn write_burst(store: Arc<PgStore>, binding: Arc<ModelBinding>, iters: u64) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, binding) = (Arc::clone(&store), Arc::clone(&binding));
            tokio::spawn(async move {
                let mut i = w;
                while i < iters {
                    let pk = (i as i64 % ROWS) + 1;
                    store
                        .execute(update(&binding, pk, i))
                        .await
                        .expect("update");
                    i += WRITERS;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    start.elapsed()
}

fn capture(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("capture bench: DATABASE_URL is not set; nothing measured");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let schema = format!("bench_capture_{}", std::process::id());
    let registry = registry();
    let binding = Arc::clone(registry.models().next().expect("one binding"));
    let store = rt.block_on(async {
        let config = PgConfig {
            url: url.clone(),
            schema: Some(schema.clone()),
            pool_size: 16,
            ..Default::default()
        };
        let store = Arc::new(PgStore::connect(config).await.expect("connect"));
        store.migrate(&registry).await.expect("migrate");
        for n in 0..ROWS {
            let mut values = Map::new();
            values.insert("title".into(), json!(format!("seed {n}")));
            values.insert("priority".into(), json!(0));
            store
                .execute(StoreOp::Insert {
                    binding: Arc::clone(&binding),
                    values,
                })
                .await
                .expect("seed");
        }
        store
    });
    // A node with capture on: its listener runs during both throughput benchmarks, as in
    // production, and serves the latency benchmark.
    let (engine, server) = rt.block_on(async {
        let engine = Engine::start(
            registry.clone(),
            store.clone(),
            chanbind_benches::bench_limits(),
        )
        .await
        .expect("engine");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = chanbind_async::serve(tcp, engine.clone(), Default::default()).expect("serve");
        (engine, server)
    });
    let _guard = rt.enter();
    let listener = store.listen(engine.clone());
    assert!(
        rt.block_on(listener.wait_listening(1, Duration::from_secs(10))),
        "listening"
    );

    let mut group = c.benchmark_group("capture_writes");
    group.throughput(Throughput::Elements(1));
    rt.block_on(store.remove_capture(&registry))
        .expect("remove capture");
    group.bench_function("update_without_capture", |b| {
        b.iter_custom(|iters| {
            rt.block_on(write_burst(Arc::clone(&store), Arc::clone(&binding), iters))
        })
    });
    rt.block_on(store.install_capture(&registry))
        .expect("install capture");
    group.bench_function("update_with_capture", |b| {
        b.iter_custom(|iters| {
            rt.block_on(write_burst(Arc::clone(&store), Arc::clone(&binding), iters))
        })
    });
    group.finish();

    // Outside write to push: a subscriber watches row 1, a plain client updates it.
    let addr = server.local_addr();
    let (mut ws, sql) = rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("ws");
        let _hello = ws.next().await;
        ws.send(Message::text(
            json!({"event": "todo.Task.retrieve", "data": {"id": 1}}).to_string(),
        ))
        .await
        .expect("send");
        let _reply = ws.next().await;
        let mut config: tokio_postgres::Config = url.parse().expect("url");
        config.options(format!("-c search_path={schema}"));
        let (sql, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("plain client");
        tokio::spawn(connection);
        (ws, sql)
    });
    let statement = rt
        .block_on(sql.prepare("UPDATE todo_task SET title = $1 WHERE id = 1"))
        .expect("prepare");
    let mut n = 0u64;
    let mut group = c.benchmark_group("capture_latency");
    group.bench_function("outside_update_to_push", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let title = format!("outside {n}");
                    let start = Instant::now();
                    sql.execute(&statement, &[&title]).await.expect("update");
                    loop {
                        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
                            .await
                            .expect("a push within 5 s")
                            .expect("open")
                            .expect("frame");
                        let text = msg.to_text().unwrap_or_default();
                        if text.contains(&title) {
                            break;
                        }
                    }
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();

    rt.block_on(paced_latency(addr, &sql));
    rt.block_on(bulk_latency(addr, &sql));

    drop(listener);
    rt.block_on(async {
        server.shutdown().await;
        store.drop_schema().await.expect("drop schema");
    });
}

/// Paces outside updates at `RATE` per second over rows 1..=`ROWS`, all watched by one
/// subscriber, and prints the update-to-push latency percentiles. A push the listener
/// coalesced away (a newer update of the same row in the same batch) counts as missing.
async fn paced_latency(addr: std::net::SocketAddr, sql: &tokio_postgres::Client) {
    const RATE: u64 = 1000;
    const SECONDS: u64 = 3;
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("ws");
    let (mut tx, mut rx) = ws.split();
    let _hello = rx.next().await;
    for id in 1..=ROWS {
        let request = json!({"event": format!("todo.Task.retrieve#r{id}"), "data": {"id": id}});
        tx.send(Message::text(request.to_string()))
            .await
            .expect("send");
        let _reply = rx.next().await;
    }
    let sent: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let reader_sent = Arc::clone(&sent);
    let reader = tokio::spawn(async move {
        let mut histogram = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(2), rx.next()).await
        {
            let Ok(frame) = serde_json::from_str::<Value>(msg.to_text().unwrap_or_default()) else {
                continue;
            };
            let Some(title) = frame["data"]["title"].as_str() else {
                continue;
            };
            if let Some(at) = reader_sent.lock().expect("lock").remove(title) {
                histogram
                    .record(at.elapsed().as_micros() as u64)
                    .expect("record");
            }
        }
        histogram
    });
    let statement = sql
        .prepare("UPDATE todo_task SET title = $1 WHERE id = $2")
        .await
        .expect("prepare");
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    for n in 0..RATE * SECONDS {
        tick.tick().await;
        let (title, id) = (format!("paced {n}"), (n as i64 % ROWS) + 1);
        sent.lock()
            .expect("lock")
            .insert(title.clone(), Instant::now());
        sql.execute(&statement, &[&title, &id])
            .await
            .expect("update");
    }
    let histogram = reader.await.expect("reader");
    let missing = sent.lock().expect("lock").len();
    println!(
        "capture_latency/paced_{RATE}_per_s: p50 {} us, p99 {} us, max {} us, {} pushes, {missing} coalesced or missing",
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.max(),
        histogram.len(),
    );
}

/// Rows of the bulk update.
const BULK: i64 = 1000;

/// An outside `UPDATE` of `BULK` rows at once, timed until a change feed over them has pushed
/// every row, against the `UPDATE`'s own time, in the same run; prints medians and the
/// slowest of 20 rounds.
async fn bulk_latency(addr: std::net::SocketAddr, sql: &tokio_postgres::Client) {
    const ROUNDS: usize = 20;
    sql.execute(
        "INSERT INTO todo_task (title, priority) SELECT 'bulk', 0 FROM generate_series(1, $1::bigint)",
        &[&BULK],
    )
    .await
    .expect("bulk rows");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .expect("ws");
    let _hello = ws.next().await;
    let feed = json!({"event": "todo.Task.subscribe#bulk", "data": {"filters": {"title": "bulk"}}});
    ws.send(Message::text(feed.to_string()))
        .await
        .expect("send");
    let _reply = ws.next().await;
    let (mut sql_times, mut push_times) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let start = Instant::now();
        sql.execute(
            "UPDATE todo_task SET priority = $1 WHERE title = 'bulk'",
            &[&(round as i64 + 1)],
        )
        .await
        .expect("bulk update");
        sql_times.push(start.elapsed());
        let mut pushed = 0;
        while pushed < BULK {
            let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
                .await
                .expect("a push within 30 s")
                .expect("open")
                .expect("frame");
            if msg
                .to_text()
                .unwrap_or_default()
                .contains("\"todo.Task.updated#bulk\"")
            {
                pushed += 1;
            }
        }
        push_times.push(start.elapsed());
    }
    sql_times.sort();
    push_times.sort();
    println!(
        "capture_latency/bulk_update_{BULK}_rows: UPDATE alone median {:?}; UPDATE to the \
         feed's last push median {:?}, max {:?} ({ROUNDS} rounds)",
        sql_times[ROUNDS / 2],
        push_times[ROUNDS / 2],
        push_times[ROUNDS - 1],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(20);
    targets = capture
}
criterion_main!(benches);
