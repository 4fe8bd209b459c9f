//! A search of 25 tasks through the whole engine (decode, plan, store, render, encode, queue):
//! plain, with `expand=owner`, and with `expand=owner` and `include=comments`; against the
//! way a task board showed owners before `expand`, the same search followed by one
//! `auth.User.retrieve` per row. On the in-memory store, and on PostgreSQL when
//! `DATABASE_URL` is set (in a schema of its own, dropped at the end).
//!
//! Besides criterion's times it prints, for each request, the store ops it ran (each one
//! transaction) and the SQL statements those ops are ([`chanbind_engine::sql::plan`]), counted
//! by a wrapper store.
//!
//! Run with `cargo bench -p chanbind-benches --bench expand`, or with
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test` for PostgreSQL too.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::binding::{ModelBinding, Registry};
use chanbind_engine::outbound::Outbound;
use chanbind_engine::protocol::Frame;
use chanbind_engine::session::{Session, Step};
use chanbind_engine::store::{MemoryStore, Store, StoreFuture, StoreOp, StoreOutput};
use chanbind_engine::validate::{validate_write, WriteMode};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

/// Tasks on the page, and comments per task.
const ROWS: usize = 25;
const COMMENTS: usize = 3;

/// Counts the ops a store runs and the statements PostgreSQL runs for them, while
/// `counting` (building the SQL to count it costs more than a memory read: not while timed).
struct Counted {
    inner: Arc<dyn Store>,
    counting: AtomicBool,
    ops: AtomicUsize,
    statements: AtomicUsize,
}

impl Store for Counted {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        if self.counting.load(Ordering::Relaxed) {
            self.ops.fetch_add(1, Ordering::Relaxed);
            let statements = chanbind_engine::sql::plan(&op).statements.len();
            self.statements.fetch_add(statements, Ordering::Relaxed);
        }
        self.inner.execute(op)
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn is_blocking(&self) -> bool {
        self.inner.is_blocking()
    }
}

impl Counted {
    fn take(&self) -> (usize, usize) {
        (
            self.ops.swap(0, Ordering::Relaxed),
            self.statements.swap(0, Ordering::Relaxed),
        )
    }
}

/// Keeps the last frame, standing in for a socket's queue.
#[derive(Default)]
struct Last(std::sync::Mutex<Option<Frame>>);

impl Outbound for Last {
    fn send(&self, frame: Frame) -> bool {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(frame);
        true
    }
}

impl Last {
    fn json(&self) -> Value {
        let frame = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        serde_json::from_str(frame.expect("a reply").as_str()).expect("JSON")
    }
}

/// The demo's data, then tasks up to [`ROWS`] owned by users 1 to 25, with [`COMMENTS`]
/// comments each.
async fn seed(registry: &Registry, store: &dyn Store) {
    demo::seed(registry, store).await.expect("seed");
    let (tasks, comments) = (
        registry.get("todo.Task").expect("tasks"),
        registry.get("todo.Comment").expect("comments"),
    );
    let insert = |binding: &Arc<ModelBinding>, data: Value| {
        let values = validate_write(
            binding,
            data.as_object().expect("object"),
            WriteMode::Create,
        )
        .expect("valid");
        StoreOp::Insert {
            binding: Arc::clone(binding),
            values,
        }
    };
    for n in 5..=ROWS {
        let op = insert(tasks, json!({"title": format!("task {n}"), "owner_id": n}));
        store.execute(op).await.expect("task");
    }
    for task in 1..=ROWS {
        for n in 0..COMMENTS {
            let data = json!({"task_id": task, "author_id": n + 1, "body": format!("comment {n}")});
            let op = insert(comments, data);
            assert!(matches!(
                store.execute(op).await,
                Ok(StoreOutput::Changed(Some(_)))
            ));
        }
    }
}

/// Runs one request to its reply.
fn run(rt: &tokio::runtime::Runtime, session: &mut Session, text: &str) {
    match session.handle_text(text) {
        Step::Run(job) => rt.block_on(job.run()),
        Step::Reply(f) => panic!("{f:?}"),
    }
}

const SEARCH: &str = r#"{"event":"todo.Task.search","data":{"subscribe":false,"limit":25}}"#;
const EXPAND: &str =
    r#"{"event":"todo.Task.search","data":{"subscribe":false,"limit":25,"expand":"owner"}}"#;
const INCLUDE: &str = r#"{"event":"todo.Task.search","data":{"subscribe":false,"limit":25,"expand":"owner","include":"comments"}}"#;

/// The search, then a retrieve of each row's owner: what a board did before `expand`.
fn one_per_row(rt: &tokio::runtime::Runtime, session: &mut Session, out: &Last) {
    run(rt, session, SEARCH);
    let page = out.json();
    for row in page["data"]["rows"].as_array().expect("rows") {
        let text = json!({"event": "auth.User.retrieve",
                          "data": {"id": row["owner_id"], "subscribe": false}})
        .to_string();
        run(rt, session, &text);
        black_box(out.json());
    }
}

fn measure(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: Arc<dyn Store>) {
    let registry = demo::registry().expect("demo bindings");
    rt.block_on(seed(&registry, &*store));
    let counted = Arc::new(Counted {
        inner: store,
        counting: AtomicBool::new(true),
        ops: AtomicUsize::new(0),
        statements: AtomicUsize::new(0),
    });
    let engine = rt
        .block_on(Engine::start(
            registry,
            counted.clone(),
            chanbind_benches::bench_limits(),
        ))
        .expect("engine");
    let out = Arc::new(Last::default());
    let mut session = engine.open_session(None, out.clone());

    // What each request costs the database, and that the replies are what they claim.
    let mut costs = Vec::new();
    for (what, text) in [
        ("search", SEARCH),
        ("search, expand=owner", EXPAND),
        ("search, expand=owner, include=comments", INCLUDE),
    ] {
        counted.take();
        run(rt, &mut session, text);
        let reply = out.json();
        let rows = reply["data"]["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), ROWS, "{what}: {reply}");
        if text != SEARCH {
            assert!(rows.iter().all(|r| r["owner"]["id"] == r["owner_id"]));
        }
        if text == INCLUDE {
            assert!(rows.iter().all(|r| r["comments"]
                .as_array()
                .is_some_and(|c| c.len() == COMMENTS)));
        }
        costs.push((what, counted.take()));
    }
    counted.take();
    one_per_row(rt, &mut session, &out);
    costs.push(("search, then a retrieve per owner", counted.take()));
    counted.counting.store(false, Ordering::Relaxed);
    eprintln!("\nexpand bench on {name}: store ops (transactions) and SQL statements per request");
    for (what, (ops, statements)) in &costs {
        eprintln!("  {what:<42} {ops:>3} ops {statements:>3} statements");
    }

    let mut g = c.benchmark_group(format!("expand/{name}"));
    g.bench_function("search 25", |b| b.iter(|| run(rt, &mut session, SEARCH)));
    g.bench_function("search 25, expand=owner", |b| {
        b.iter(|| run(rt, &mut session, EXPAND))
    });
    g.bench_function("search 25, expand=owner, include=comments", |b| {
        b.iter(|| run(rt, &mut session, INCLUDE))
    });
    g.bench_function("search 25, then 25 owner retrieves", |b| {
        b.iter(|| one_per_row(rt, &mut session, &out))
    });
    g.finish();
    engine.shutdown();
}

fn expand(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = demo::registry().expect("demo bindings");
    measure(c, &rt, "memory", Arc::new(MemoryStore::new(&registry)));

    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("expand bench: DATABASE_URL is not set; PostgreSQL not measured");
        return;
    };
    let schema = format!("bench_expand_{}", std::process::id());
    let config = PgConfig {
        url,
        schema: Some(schema),
        pool_size: 4,
        ..Default::default()
    };
    let store = Arc::new(rt.block_on(PgStore::connect(config)).expect("connect"));
    rt.block_on(store.migrate(&registry)).expect("migrate");
    measure(c, &rt, "postgres", store.clone());
    rt.block_on(store.drop_schema())
        .expect("drop the bench schema");
}

criterion_group!(benches, expand);
criterion_main!(benches);
