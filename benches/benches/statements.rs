//! Memory after many distinct search shapes from one connection: this process's resident set
//! (the server's side of the prepared statements) and that of the PostgreSQL backends serving
//! the store's pool, with the statement cache at its default capacity and with it unbounded
//! (the behaviour before the cache was bounded).
//!
//! Each capacity runs in a child process of its own, so one run's freed memory does not hide
//! the other's growth. A child runs `SHAPES` distinct searches (a different filter key set or
//! order each time, on a pool of 2 connections) through the tokio store and prints the
//! figures every `SHAPES / 5` searches; the figures are what a user sees in `top`: VmRSS of
//! this process, and VmRSS and RssAnon (the backend's private memory, where its plans live)
//! summed over the backends whose `application_name` is this run's. The backends are read
//! from `/proc`, so PostgreSQL must run on this machine.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test cargo bench -p
//! chanbind-benches --bench statements` (about a minute). Without `DATABASE_URL` it prints a
//! notice and measures nothing. It works in a schema of its own per child, dropped at the end.

use std::sync::Arc;

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::filter::{parse_filter, Ordering};
use chanbind_engine::sql::STATEMENT_CACHE_CAPACITY;
use chanbind_engine::store::{Store, StoreOp};
use serde_json::{json, Map, Value};

/// Distinct search shapes per run.
const SHAPES: u32 = 10_000;

/// Set in a child: the statement cache capacity it measures.
const CHILD: &str = "CHANBIND_BENCH_STATEMENT_CAPACITY";

/// A filter key and the operand it takes in the `i`th shape.
type Key = (&'static str, fn(u32) -> Value);

/// Filters over `bench_item`, each a different statement text when combined.
const KEYS: [Key; 12] = [
    ("name", |i| json!(format!("n{i}"))),
    ("name__icontains", |i| json!(format!("{i}"))),
    ("name__startswith", |_| json!("a")),
    ("name__gt", |_| json!("m")),
    ("size__gt", |i| json!(i)),
    ("size__lte", |i| json!(i + 100)),
    ("size__ne", |_| json!(3)),
    ("price__gte", |_| json!("1.5")),
    ("made__lt", |_| json!("2026-01-01T00:00:00Z")),
    ("made__isnull", |_| json!(false)),
    ("active", |i| json!(i % 2 == 0)),
    ("id__lt", |_| json!(1_000_000)),
];

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("bench_item")
                .field(Field::string("name"))
                .field(Field::integer("size"))
                .field(Field::decimal("price", 2))
                .field(Field::datetime("made"))
                .field(Field::boolean("active")),
        )
        .expect("a valid registry")
}

/// The `i`th distinct search: the keys of `i`'s bits, in one of four orders.
fn shape(binding: &Arc<ModelBinding>, i: u32) -> StoreOp {
    let mut filters = Map::new();
    for (bit, (key, value)) in KEYS.iter().enumerate() {
        if (i >> 2) & (1 << bit) != 0 {
            filters.insert((*key).to_owned(), value(i));
        }
    }
    let order = ["name", "-size", "price", "-made"][(i % 4) as usize];
    StoreOp::Search {
        binding: Arc::clone(binding),
        filter: parse_filter(binding, &filters, None, 1000).expect("a valid filter"),
        order: Ordering::parse(binding, Some(&json!([order]))).expect("a valid order"),
        offset: 0,
        limit: 10,
    }
}

/// A field of `/proc/<pid>/status` in kB.
fn status_kb(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The backends of this run's connections: (VmRSS, RssAnon) in kB, summed.
async fn backends(observer: &tokio_postgres::Client, name: &str) -> (usize, u64, u64) {
    let rows = observer
        .query(
            "SELECT pid::text FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .expect("pg_stat_activity");
    let pids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let rss = pids.iter().map(|p| status_kb(p, "VmRSS:")).sum();
    let anon = pids.iter().map(|p| status_kb(p, "RssAnon:")).sum();
    (pids.len(), rss, anon)
}

async fn child(url: String, capacity: usize) {
    let name = format!("bench_stmts_{}", std::process::id());
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = PgStore::connect(PgConfig {
        url: format!("{url}{sep}application_name={name}"),
        schema: Some(name.clone()),
        pool_size: 2,
        statement_cache_capacity: capacity,
    })
    .await
    .expect("connect to DATABASE_URL");
    let registry = registry();
    store.migrate(&registry).await.expect("migrate");
    let (observer, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    let binding = Arc::clone(registry.get("bench.Item").expect("bound"));
    let report = |done: u32, (n, rss, anon): (usize, u64, u64)| {
        println!(
            "capacity {capacity:>10}  after {done:>6} shapes: server VmRSS {:>7} kB, {n} backends VmRSS {rss:>8} kB, RssAnon {anon:>8} kB",
            status_kb("self", "VmRSS:")
        );
    };
    let store = Arc::new(store);
    for i in 0..SHAPES / 2 {
        if (2 * i) % (SHAPES / 5) == 0 {
            report(2 * i, backends(&observer, &name).await);
        }
        // Two at a time, so both connections of the pool serve shapes.
        let (a, b) = (shape(&binding, 2 * i), shape(&binding, 2 * i + 1));
        let (ra, rb) = tokio::join!(store.execute(a), store.execute(b));
        ra.expect("search");
        rb.expect("search");
    }
    report(SHAPES, backends(&observer, &name).await);
    store.drop_schema().await.expect("drop the bench schema");
}

fn main() {
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("statements bench: DATABASE_URL is not set; measuring nothing");
        return;
    };
    if let Some(capacity) = std::env::var(CHILD).ok().and_then(|c| c.parse().ok()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(child(url, capacity));
        return;
    }
    let me = std::env::current_exe().expect("the bench's own path");
    for capacity in [usize::MAX, STATEMENT_CACHE_CAPACITY] {
        let status = std::process::Command::new(&me)
            .env(CHILD, capacity.to_string())
            .status()
            .expect("run the child");
        assert!(status.success(), "the child for capacity {capacity} failed");
    }
}
