//! The blocking PostgreSQL store, directly and behind the sync server: writes, pushes, live
//! queries re-read on tokio's blocking threads, conflicts, and the HTTP API.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chanbind_engine::config::Limits;
use chanbind_engine::filter::{Filter, Ordering};
use chanbind_engine::store::{Store, StoreOp, StoreOutput};
use chanbind_engine::Engine;
use chanbind_sync::postgres::{PgConfig, PgStore};
use chanbind_sync::{EngineRuntime, ServerConfig};
use serde_json::json;

use crate::common::{self, connect, next, request};
use crate::http::support::Client;

/// The database URL, or `None` (with a notice) when the test should be skipped.
fn database_url(test: &str) -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("DATABASE_URL is not set under CI")
        }
        _ => {
            eprintln!("NOTICE: {test} skipped: DATABASE_URL is not set");
            None
        }
    }
}

/// A store in a fresh schema of its own, migrated; the schema is dropped with the guard.
struct Schema {
    store: Arc<PgStore>,
    name: String,
}

impl Schema {
    fn new(url: String, test: &str) -> Schema {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!("sync_{test}_{}_{nanos}", std::process::id());
        let store = PgStore::connect(PgConfig {
            url,
            schema: Some(schema.clone()),
            pool_size: 4,
            ..Default::default()
        })
        .unwrap();
        store.migrate(&common::registry()).unwrap();
        Schema {
            store: Arc::new(store),
            name: schema,
        }
    }

    fn store_schema(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(e) = self.store.drop_schema() {
            eprintln!("cannot drop the test schema: {e}");
        }
    }
}

#[test]
fn the_blocking_store_answers_ops_directly() {
    let Some(url) = database_url("the_blocking_store_answers_ops_directly") else {
        return;
    };
    let schema = Schema::new(url, "ops");
    let store = &schema.store;
    assert!(store.is_blocking());
    assert_eq!(store.kind(), "postgres");
    let registry = common::registry();
    let tasks = Arc::clone(registry.get("todo.Task").unwrap());
    let values = chanbind_engine::validate::validate_write(
        &tasks,
        json!({"title": "one", "priority": 2}).as_object().unwrap(),
        chanbind_engine::validate::WriteMode::Create,
    )
    .unwrap();
    let inserted = futures_executor::block_on(store.execute(StoreOp::Insert {
        binding: Arc::clone(&tasks),
        values,
    }))
    .unwrap();
    let StoreOutput::Changed(Some(change)) = inserted else {
        panic!("{inserted:?}")
    };
    let get = StoreOp::Get {
        binding: Arc::clone(&tasks),
        pk: change.pk,
        scope: Filter::everything(),
    };
    let StoreOutput::Row(Some(row)) = futures_executor::block_on(store.execute(get)).unwrap()
    else {
        panic!()
    };
    assert_eq!(row["title"], "one");
    assert_eq!(row["priority"], 2);
    let search = StoreOp::Search {
        binding: Arc::clone(&tasks),
        filter: Filter::everything(),
        order: Ordering::by_pk(&tasks),
        offset: 0,
        limit: 10,
    };
    // The same statement twice: the second runs the connection's prepared copy.
    for _ in 0..2 {
        let StoreOutput::Page { count, rows } =
            futures_executor::block_on(store.execute(search.clone())).unwrap()
        else {
            panic!()
        };
        assert_eq!((count, rows.len()), (1, 1));
    }
    let missing = StoreOp::Get {
        binding: tasks,
        pk: 999.into(),
        scope: Filter::everything(),
    };
    assert_eq!(
        futures_executor::block_on(store.execute(missing)).unwrap(),
        StoreOutput::Row(None)
    );
}

#[test]
fn the_sync_server_on_postgres_pushes_rows_and_live_queries() {
    let Some(url) = database_url("the_sync_server_on_postgres_pushes_rows_and_live_queries") else {
        return;
    };
    let schema = Schema::new(url, "server");
    let store: Arc<dyn Store> = Arc::clone(&schema.store) as Arc<dyn Store>;
    let runtime = EngineRuntime::start(
        Engine::builder(common::registry(), store)
            .limits(Limits::default())
            .allow_anonymous(true),
    )
    .unwrap();
    let server = runtime
        .bind("127.0.0.1:0", ServerConfig::default())
        .unwrap();
    let mut writer = connect(server.local_addr());
    let mut reader = connect(server.local_addr());
    let created = request(
        &mut writer,
        json!({"event": "auth.User.create", "data": {"username": "admin", "email": "a@example.com"}}),
    );
    assert_eq!(created["data"]["success"], true, "{created}");
    let id = created["data"]["id"].clone();
    let row = request(
        &mut reader,
        json!({"event": "auth.User.retrieve", "data": {"id": id}}),
    );
    assert_eq!(row["data"]["username"], "admin", "{row}");
    let search = request(
        &mut reader,
        json!({"event": "auth.User.search#all", "data": {"query": "ADMIN"}}),
    );
    assert_eq!(search["data"]["count"], 1, "{search}");
    request(
        &mut writer,
        json!({"event": "auth.User.update", "data": {"id": id, "username": "Changed Username"}}),
    );
    // The row push comes from the change itself; the search's from a re-read that the engine
    // runs on a blocking thread, since this store blocks.
    let mut row_push = None;
    let mut search_push = None;
    while row_push.is_none() || search_push.is_none() {
        let push = next(&mut reader);
        match push["event"].as_str().unwrap() {
            "auth.User.retrieve" => row_push = Some(push),
            "auth.User.search#all" => search_push = Some(push),
            other => panic!("unexpected push {other}"),
        }
    }
    assert_eq!(row_push.unwrap()["data"]["username"], "Changed Username");
    let search_push = search_push.unwrap();
    assert_eq!(
        search_push["data"]["count"], 0,
        "the row left the query: {search_push}"
    );
    let clash = request(
        &mut writer,
        json!({"event": "auth.User.create#dup", "data": {"username": "Changed Username"}}),
    );
    assert_eq!(clash["error"]["code"], "conflict", "{clash}");
    assert!(clash["error"]["fields"]["username"].is_array(), "{clash}");
    let missing = request(
        &mut writer,
        json!({"event": "auth.User.update", "data": {"id": 999, "username": "x"}}),
    );
    assert_eq!(missing["error"]["code"], "not_found", "{missing}");
    server.shutdown();
    drop(runtime);
}

#[test]
fn http_on_postgres_writes_reads_and_reaches_websocket_subscribers() {
    let Some(url) = database_url("http_on_postgres_writes_reads_and_reaches_websocket_subscribers")
    else {
        return;
    };
    let schema = Schema::new(url, "http");
    let store: Arc<dyn Store> = Arc::clone(&schema.store) as Arc<dyn Store>;
    let runtime = EngineRuntime::start(
        Engine::builder(common::registry(), store)
            .limits(Limits::default())
            .allow_anonymous(true),
    )
    .unwrap();
    let server = runtime
        .bind("127.0.0.1:0", ServerConfig::default())
        .unwrap();
    let addr = server.local_addr();
    let mut client = Client::connect(addr);
    for (title, priority) in [("one", 1), ("two", 4), ("three", 2)] {
        let task = json!({"title": title, "priority": priority});
        let created = client.send("POST", "/api/todo.Task/", Some(&task), &[]);
        assert_eq!(created.status, 201, "{:?}", created.body);
    }
    let page = client.send(
        "GET",
        "/api/todo.Task/?priority__gte=2&order=-priority",
        None,
        &[],
    );
    let titles: Vec<&str> = page.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!((page.status, titles), (200, vec!["two", "three"]));
    let bad = client.send("GET", "/api/todo.Task/?priority=high", None, &[]);
    assert_eq!(bad.body["code"], "invalid_filter");

    let mut ws = connect(addr);
    let row = request(
        &mut ws,
        json!({"event": "todo.Task.retrieve", "data": {"id": 2}}),
    );
    assert_eq!(row["data"]["title"], "two", "{row}");
    let patch = json!({"done": true});
    let patched = client.send("PATCH", "/api/todo.Task/2", Some(&patch), &[]);
    assert_eq!(patched.body["object"]["done"], true, "{:?}", patched.body);
    let push = next(&mut ws);
    assert_eq!(
        (push["event"].as_str(), push["data"]["done"].as_bool()),
        (Some("todo.Task.retrieve"), Some(true)),
        "{push}"
    );
    let deleted = client.send("DELETE", "/api/todo.Task/2", None, &[]);
    assert_eq!(deleted.status, 200);
    assert_eq!(next(&mut ws)["data"]["deleted"], true);
    assert_eq!(
        client.send("GET", "/api/todo.Task/2", None, &[]).status,
        404
    );
    server.shutdown();
    drop(runtime);
}

#[test]
fn the_store_may_be_dropped_on_a_tokio_worker() {
    let Some(url) = database_url("the_store_may_be_dropped_on_a_tokio_worker") else {
        return;
    };
    let schema = Schema::new(url.clone(), "drop");
    // A second store on the same schema, whose last handle goes away on a worker, the way a
    // stream actor's state lets go of it when the engine stops.
    let config = PgConfig {
        url,
        schema: schema.store_schema(),
        pool_size: 2,
        ..Default::default()
    };
    let store = Arc::new(PgStore::connect(config).unwrap());
    let tasks = Arc::clone(common::registry().get("todo.Task").unwrap());
    let get = StoreOp::Get {
        binding: tasks,
        pk: 1.into(),
        scope: Filter::everything(),
    };
    assert_eq!(
        futures_executor::block_on(store.execute(get)).unwrap(),
        StoreOutput::Row(None)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let dropped = runtime.block_on(async move { tokio::spawn(async move { drop(store) }).await });
    assert!(dropped.is_ok(), "dropping the store on a worker panicked");
}

/// A filter key and the operand it takes in the `i`th shape.
type Key = (&'static str, fn(u32) -> serde_json::Value);

/// Filters over `todo_task`, each a different statement text when combined.
const SHAPE_KEYS: [Key; 12] = [
    ("title", |i| json!(format!("t{i}"))),
    ("title__icontains", |i| json!(format!("{i}"))),
    ("title__startswith", |_| json!("a")),
    ("title__gt", |_| json!("m")),
    ("title__isnull", |_| json!(false)),
    ("done", |i| json!(i % 2 == 0)),
    ("done__ne", |_| json!(true)),
    ("priority__gt", |i| json!(i % 5)),
    ("priority__lte", |_| json!(5)),
    ("priority__ne", |_| json!(3)),
    ("id__gt", |i| json!(i)),
    ("id__lt", |_| json!(1_000_000)),
];

/// The `i`th distinct search of `todo_task`: the keys of `i`'s bits, in one of four orders.
fn shape(i: u32) -> StoreOp {
    let tasks = std::sync::Arc::clone(common::registry().get("todo.Task").unwrap());
    let mut filters = serde_json::Map::new();
    for (bit, (key, value)) in SHAPE_KEYS.iter().enumerate() {
        if (i >> 2) & (1 << bit) != 0 {
            filters.insert((*key).to_owned(), value(i));
        }
    }
    let order = ["title", "-priority", "done", "-id"][(i % 4) as usize];
    let order = json!([order]);
    search(&tasks, &json!(filters), &order)
}

fn search(
    tasks: &Arc<chanbind_engine::binding::ModelBinding>,
    filters: &serde_json::Value,
    order: &serde_json::Value,
) -> StoreOp {
    StoreOp::Search {
        binding: Arc::clone(tasks),
        filter: chanbind_engine::filter::parse_filter(
            tasks,
            filters.as_object().unwrap(),
            None,
            1000,
        )
        .unwrap(),
        order: Ordering::parse(tasks, Some(order)).unwrap(),
        offset: 0,
        limit: 10,
    }
}

#[test]
fn distinct_shapes_keep_the_prepared_statements_bounded() {
    let Some(url) = database_url("distinct_shapes_keep_the_prepared_statements_bounded") else {
        return;
    };
    let schema = Schema::new(url.clone(), "stmts");
    let capacity = 16;
    let connect = |statement_cache_capacity| {
        PgStore::connect(PgConfig {
            url: url.clone(),
            schema: schema.store_schema(),
            // One connection, so the count the store reports is the one that ran every op.
            pool_size: 1,
            statement_cache_capacity,
        })
        .unwrap()
    };
    let store = connect(capacity);
    let run = |store: &PgStore, op| {
        let out = futures_executor::block_on(store.execute(op));
        assert!(matches!(out, Ok(StoreOutput::Page { .. })), "{out:?}");
    };
    for i in 0..2_000 {
        run(&store, shape(i));
        if i % 250 == 0 {
            let held = store.prepared_statements().unwrap();
            assert!(held <= capacity as u64, "after {i} shapes: {held} prepared");
        }
    }
    assert_eq!(store.prepared_statements().unwrap(), capacity as u64);

    // `__in` lists of 200 lengths, on a store with room to spare, are one count and one page.
    let wide = connect(1000);
    let tasks = Arc::clone(common::registry().get("todo.Task").unwrap());
    for n in 1..=200 {
        let filters = json!({"priority__in": (0..n).collect::<Vec<_>>()});
        run(&wide, search(&tasks, &filters, &json!(["id"])));
    }
    assert_eq!(wide.prepared_statements().unwrap(), 2);
}
