//! The PostgreSQL store answers every op exactly as the in-memory store, the reference.
//!
//! Each test runs the same ops on `MemoryStore` and `PgStore` and asserts equal outputs. Ops
//! are built the way the engine builds them: values through `validate_write`, filters through
//! `parse_filter`, order through `Ordering::parse`.
//!
//! Needs a PostgreSQL server: `scripts/test -p chanbind-async --test store_parity`. Without `DATABASE_URL` the tests pass with a notice,
//! except under `CI=true`, where they fail. Each test works in its own schema, dropped after.

// The filter cases are one `json!` list, deeper than the default limit.
#![recursion_limit = "512"]

use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_engine::binding::{Field, ModelBinding, OnDelete, Registry};
use chanbind_engine::filter::{parse_filter, Filter, Ordering};
use chanbind_engine::store::{MemoryStore, Store, StoreError, StoreOp, StoreOutput};
use chanbind_engine::validate::{validate_write, WriteMode};
use serde_json::{json, Map, Value};

const USERS: &str = "auth.User";
const TASKS: &str = "todo.Task";
const NOTES: &str = "todo.Note";

fn registry() -> Registry {
    let users = ModelBinding::new("auth_user")
        .field(
            Field::string("username")
                .required()
                .unique()
                .max_length(150),
        )
        .field(Field::email("email").max_length(254))
        .field(Field::boolean("is_active").default(true))
        .field(Field::datetime("date_joined").auto_now_add())
        .field(Field::datetime("last_login"))
        .field(Field::integer("age"))
        .field(Field::decimal("balance", 2))
        .field(Field::float("score"))
        .field(Field::date("birthday"))
        .field(Field::uuid("token"))
        .field(Field::json("profile"))
        .field(Field::text("bio"))
        .search(["username", "email", "bio"]);
    let cascade = |name, stream| Field::foreign_key(name, stream).on_delete(OnDelete::Cascade);
    let tasks = ModelBinding::new("todo_task")
        .field(Field::string("title").required())
        .field(Field::foreign_key("owner_id", USERS).on_delete(OnDelete::SetNull))
        .field(Field::foreign_key("reviewer_id", USERS))
        .field(cascade("parent_id", TASKS))
        .field(Field::datetime("due"));
    let notes = ModelBinding::new("todo_note")
        .field(cascade("task_id", TASKS))
        .field(Field::text("body"));
    (Registry::new().model(users))
        .and_then(|r| r.model(tasks))
        .and_then(|r| r.model(notes))
        .expect("a valid registry")
}

/// Both stores over one registry, PostgreSQL in a schema of its own.
struct Pair {
    /// The schema, also the `application_name` of the store's connections.
    schema: String,
    registry: Registry,
    memory: MemoryStore,
    pg: PgStore,
}

/// Runs `body` against a fresh pair and drops the schema afterwards, even when `body` panics.
async fn with_pair<F, Fut>(registry: Registry, body: F)
where
    F: FnOnce(Arc<Pair>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(url) = database_url() else { return };
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seq = SEQ.fetch_add(1, AtomicOrdering::SeqCst);
    let schema = format!("parity_{}_{nanos}_{seq}", std::process::id());
    let url = with_application_name(&url, &schema);
    let config = PgConfig {
        url,
        schema: Some(schema.clone()),
        pool_size: 4,
    };
    let pg = PgStore::connect(config)
        .await
        .expect("connect to DATABASE_URL");
    pg.migrate(&registry).await.expect("migrate");
    pg.migrate(&registry)
        .await
        .expect("migrating twice changes nothing");
    let memory = MemoryStore::new(&registry);
    let pair = Arc::new(Pair {
        schema,
        registry,
        memory,
        pg,
    });
    let outcome = tokio::spawn(body(Arc::clone(&pair))).await;
    pair.pg.drop_schema().await.expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Names the test's connections, so one test can find (and cut) its own.
fn with_application_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("store_parity: DATABASE_URL is not set; skipping");
            None
        }
    }
}

fn object(v: &Value) -> &Map<String, Value> {
    v.as_object().expect("a JSON object")
}

fn conflict_on(e: &StoreError, field: &str) -> bool {
    matches!(e, StoreError::Conflict { field: Some(f), .. } if f == field)
}

type Output = Result<StoreOutput, StoreError>;

impl Pair {
    fn binding(&self, stream: &str) -> Arc<ModelBinding> {
        Arc::clone(self.registry.get(stream).expect("a bound stream"))
    }

    /// Runs `op` on both stores, asserts the outputs are equal and returns them.
    async fn both(&self, what: &str, op: StoreOp) -> Output {
        let memory = self.memory.execute(op.clone()).await;
        let pg = self.pg.execute(op).await;
        assert_eq!(
            pg, memory,
            "{what}: postgres (left) and memory (right) differ"
        );
        memory
    }

    async fn insert(&self, stream: &str, data: Value) -> Output {
        let binding = self.binding(stream);
        let values = validate_write(&binding, object(&data), WriteMode::Create).expect("valid");
        self.both(
            &format!("insert {data}"),
            StoreOp::Insert { binding, values },
        )
        .await
    }

    async fn insert_id(&self, stream: &str, data: Value) -> i64 {
        match self.insert(stream, data).await {
            Ok(StoreOutput::Changed(Some(change))) => change.pk,
            other => panic!("insert failed: {other:?}"),
        }
    }

    async fn update(&self, stream: &str, pk: i64, data: Value, scope: Filter) -> Output {
        let binding = self.binding(stream);
        let values = validate_write(&binding, object(&data), WriteMode::Update).expect("valid");
        let op = StoreOp::Update {
            binding,
            pk,
            values,
            scope,
        };
        self.both(&format!("update {pk} {data}"), op).await
    }

    async fn delete(&self, stream: &str, pk: i64, scope: Filter) -> Output {
        let binding = self.binding(stream);
        self.both(
            &format!("delete {pk}"),
            StoreOp::Delete {
                referrers: self.registry.referrers(binding.stream()),
                binding,
                pk,
                scope,
            },
        )
        .await
    }

    async fn get(&self, stream: &str, pk: i64, scope: Filter) -> Output {
        let binding = self.binding(stream);
        self.both(&format!("get {pk}"), StoreOp::Get { binding, pk, scope })
            .await
    }

    fn filter(&self, stream: &str, filters: &Value, query: Option<&str>) -> Filter {
        let binding = self.binding(stream);
        parse_filter(&binding, object(filters), query, 100).expect("a valid filter")
    }

    /// A search of `stream` in `order` over the window `(offset, limit)`; returns the count
    /// so callers can check a case is not trivially empty.
    async fn search(
        &self,
        stream: &str,
        filters: &Value,
        query: Option<&str>,
        order: &Value,
        window: (u64, u64),
    ) -> u64 {
        let binding = self.binding(stream);
        let filter = self.filter(stream, filters, query);
        let order_spec = Some(order).filter(|o| !o.is_null());
        let order_keys = Ordering::parse(&binding, order_spec).expect("a valid order");
        let (offset, limit) = window;
        let op = StoreOp::Search {
            binding,
            filter,
            order: order_keys,
            offset,
            limit,
        };
        let what = format!("search {filters} query={query:?} order={order} window={window:?}");
        match self.both(&what, op).await {
            Ok(StoreOutput::Page { count, .. }) => count,
            other => panic!("{what}: {other:?}"),
        }
    }

    async fn count(&self, stream: &str, filters: Value) -> u64 {
        self.search(stream, &filters, None, &Value::Null, (0, 1000))
            .await
    }
}

/// Users with mixed case, non-ASCII text, ties and nulls in every column.
async fn seed_users(p: &Pair) {
    let users = json!([
        {"username": "alice", "email": "alice@example.com", "age": 30, "balance": "9.99", "score": 0.1,
         "last_login": "2026-01-02T03:04:05.123456Z", "birthday": "1990-05-01",
         "token": "00000000-0000-0000-0000-0000000000aa", "profile": {"tags": ["a", "b"], "n": 1},
         "bio": "Likes ÉCOLE and tea"},
        {"username": "Bob", "email": "BOB@Example.com", "age": 30, "balance": "10.5", "score": 2.5,
         "last_login": "2026-01-02T05:04:05+02:00", "birthday": "1985-12-31",
         "token": "FFFFFFFF-0000-0000-0000-000000000001", "profile": {"n": 1, "tags": ["a", "b"]},
         "is_active": false},
        {"username": "ÉCOLE", "age": 7, "balance": "100", "score": 1e100, "bio": "école"},
        {"username": "école", "email": "ecole@example.fr", "age": null, "balance": "-3.456",
         "score": -0.25, "birthday": "2000-02-29", "profile": [1, 2, 3], "bio": ""},
        {"username": "zoë", "age": 41, "balance": "10.50", "last_login": "1999-12-31T23:59:59.999999Z",
         "token": "12345678-90ab-cdef-1234-567890abcdef", "profile": "text", "bio": "O'Brien; DROP TABLE x --"},
        {"username": "Zed", "age": 7, "score": 0.30000000000000004, "profile": null, "is_active": true},
        {"username": "b", "email": "b@b.io", "age": -5, "balance": "0", "bio": "100% _wild_ \\ chars"},
        {"username": "emoji 😀 user", "age": 30, "last_login": "2026-01-02T01:04:05.123456Z"},
    ]);
    for data in users.as_array().expect("a list") {
        p.insert_id(USERS, data.clone()).await;
    }
}

#[tokio::test]
async fn every_lookup_agrees() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        let cases = json!([
            {}, {"username": "alice"}, {"username__exact": "Bob"},
            {"username": "x'; DROP TABLE auth_user; --"},
            {"username__iexact": "bob"}, {"username__iexact": "éCOLE"}, {"username__iexact": "École"},
            {"username__contains": "o"}, {"username__contains": "É"}, {"username__contains": ""},
            {"username__icontains": "O"}, {"username__icontains": "éc"}, {"bio__icontains": "école"},
            {"bio__contains": "%"}, {"bio__contains": "_w"}, {"bio__contains": "\\"},
            {"username__startswith": "b"}, {"username__startswith": "É"},
            {"username__istartswith": "B"}, {"username__istartswith": "é"},
            {"username__endswith": "e"}, {"username__endswith": "ë"}, {"email__iexact": "bob@example.COM"},
            {"age": 30}, {"age__gt": 7}, {"age__gte": 7}, {"age__lt": 30}, {"age__lte": 7, "age__gt": -5},
            {"username__gt": "Zed"}, {"username__gte": "b"}, {"username__lt": "a"}, {"username__lte": "École"},
            {"last_login__gt": "2026-01-02T03:04:05.123456Z"},
            {"last_login__gte": "2026-01-02T05:04:05.123456+02:00"},
            {"last_login__lt": "2000-01-01T00:00:00Z"}, {"last_login": "2026-01-02T03:04:05Z"},
            {"balance__gt": "9.99"}, {"balance__gte": "10.5"}, {"balance": "10.5"}, {"balance__lt": 10},
            {"balance__lte": "-3.456"}, {"score__gt": 0.2}, {"score": 0.30000000000000004},
            {"birthday__lt": "1990-05-01"}, {"birthday__gte": "1990-05-01"},
            {"token": "00000000-0000-0000-0000-0000000000AA"},
            {"token__gt": "12345678-90ab-cdef-1234-567890abcdef"},
            {"is_active": false}, {"profile": {"n": 1, "tags": ["a", "b"]}}, {"profile__ne": [1, 2, 3]},
            {"profile__isnull": true}, {"age__in": [7, 41, 1000]}, {"username__in": ["alice", "BOB", "zoë"]},
            {"id__in": []}, {"age__isnull": true}, {"age__isnull": false}, {"age": null},
            {"age__ne": 30}, {"age__ne": null}, {"username__ne": "alice"}, {"email__ne": "b@b.io"},
            {"last_login__ne": "2026-01-02T03:04:05.123456Z"}, {"balance__ne": "10.50"},
            {"age__gte": 7, "username__icontains": "e", "is_active": true},
        ]);
        for filters in cases.as_array().expect("a list") {
            p.count(USERS, filters.clone()).await;
        }
        // The cases are not trivially empty or full.
        assert_eq!(p.count(USERS, json!({"username__iexact": "éCOLE"})).await, 1);
        assert_eq!(p.count(USERS, json!({"age__ne": 30})).await, 5);
        assert_eq!(p.count(USERS, json!({"balance__gt": "9.99"})).await, 3);
        let at = json!({"last_login": "2026-01-02T03:04:05.123456Z"});
        assert_eq!(p.count(USERS, at).await, 1);
        for query in ["ali", "EXAMPLE", "école", "ÉCOLE", "%", "nothing"] {
            p.search(USERS, &json!({}), Some(query), &Value::Null, (0, 100)).await;
        }
        let adults = json!({"age__gte": 0});
        p.search(USERS, &adults, Some("e"), &json!("-age"), (0, 100)).await;
    })
    .await;
}

#[tokio::test]
async fn ordering_and_pages_agree() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        let orders = json!([
            null,
            "username",
            "-username",
            "age",
            "-age",
            ["-is_active", "age"],
            ["age", "-username"],
            "balance",
            "-balance",
            "score",
            "-score",
            "last_login",
            "-last_login",
            "birthday",
            "-token",
            "email",
            "bio",
            "-id",
            ["-date_joined", "username"],
        ]);
        let windows = [
            (0, 3),
            (3, 3),
            (6, 3),
            (0, 100),
            (8, 10),
            (100, 10),
            (u64::MAX, u64::MAX),
        ];
        let all = json!({});
        for order in orders.as_array().expect("a list") {
            for window in windows {
                assert_eq!(p.search(USERS, &all, None, order, window).await, 8);
            }
            p.search(USERS, &json!({"age__ne": 7}), None, order, (1, 4))
                .await;
        }
    })
    .await;
}

#[tokio::test]
async fn writes_and_constraints_agree() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        let all = Filter::everything;
        let active = || p.filter(USERS, &json!({"is_active": true}), None);

        // Reads by key, inside and outside a scope.
        p.get(USERS, 1, all()).await.expect("get");
        p.get(USERS, 2, active()).await.expect("get out of scope");
        p.get(USERS, 999, all()).await.expect("get missing");

        // Updates: values, nothing, missing rows, rows outside the scope, unique conflicts.
        let change = json!({"age": 31, "balance": "1.005", "profile": {"x": null}});
        p.update(USERS, 1, change, all()).await.expect("update");
        p.update(USERS, 3, json!({}), all())
            .await
            .expect("empty update");
        p.update(USERS, 999, json!({"age": 1}), all())
            .await
            .expect("update missing");
        p.update(USERS, 2, json!({"age": 1}), active())
            .await
            .expect("update out of scope");
        let e = p
            .update(USERS, 1, json!({"username": "Bob"}), all())
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "username"), "{e:?}");
        let change = json!({"username": "Alice", "email": null, "age": null});
        p.update(USERS, 1, change, active())
            .await
            .expect("update in scope");

        // A foreign key to a missing row, on update.
        let task = json!({"title": "t1", "owner_id": 1, "reviewer_id": 2});
        let task = p.insert_id(TASKS, task).await;
        let e = p
            .update(TASKS, task, json!({"owner_id": 999}), all())
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "owner_id"), "{e:?}");
        p.get(TASKS, task, all())
            .await
            .expect("the task is unchanged");

        // Set null: deleting the owner clears the reference.
        let child = json!({"title": "child", "owner_id": 4, "parent_id": task});
        let child = p.insert_id(TASKS, child).await;
        p.insert_id(NOTES, json!({"task_id": child, "body": "on the child"}))
            .await;
        p.insert_id(NOTES, json!({"task_id": task})).await;
        p.delete(USERS, 4, all()).await.expect("delete the owner");
        p.get(TASKS, child, all()).await.expect("owner is null");

        // Scope and missing rows on delete.
        p.delete(USERS, 2, active())
            .await
            .expect("delete out of scope");
        p.delete(USERS, 999, all()).await.expect("delete missing");

        // Cascade: a parent task takes its child and both notes with it.
        let lonely = p.insert_id(TASKS, json!({"title": "lonely"})).await;
        p.delete(TASKS, task, all()).await.expect("cascade");
        assert_eq!(p.count(TASKS, json!({})).await, 1);
        assert_eq!(p.count(NOTES, json!({})).await, 0);
        p.delete(TASKS, lonely, all()).await.expect("delete");
        p.delete(TASKS, lonely, all()).await.expect("delete twice");

        // A row of nothing but nulls.
        let op = StoreOp::Insert {
            binding: p.binding(NOTES),
            values: Map::new(),
        };
        p.both("insert no values", op)
            .await
            .expect("insert nothing");

        // Failed inserts last: each uses up a PostgreSQL sequence value (see
        // `failed_inserts_use_up_an_id`), which would shift every later id.
        let e = p
            .insert(USERS, json!({"username": "zoë"}))
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "username"), "{e:?}");
        let e = p
            .insert(TASKS, json!({"title": "x", "owner_id": 999}))
            .await
            .unwrap_err();
        let message = "auth.User 999 does not exist".to_owned();
        assert_eq!(
            e,
            StoreError::Conflict {
                field: Some("owner_id".into()),
                message
            }
        );
        p.count(USERS, json!({})).await;
    })
    .await;
}

#[tokio::test]
async fn restrict_refuses_the_delete() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        p.insert_id(TASKS, json!({"title": "t", "reviewer_id": 2}))
            .await;
        let op = StoreOp::Delete {
            binding: p.binding(USERS),
            pk: 2,
            scope: Filter::everything(),
            referrers: p.registry.referrers("auth.User"),
        };
        let memory = p.memory.execute(op.clone()).await.unwrap_err();
        let pg = p.pg.execute(op).await.unwrap_err();
        let message = "todo.Task rows still refer to this row".to_owned();
        assert_eq!(
            pg,
            StoreError::Conflict {
                field: None,
                message
            }
        );
        // The memory store also names the referring row's key, which PostgreSQL does not
        // report (and which may lie outside the caller's scope): see `restrict_message_parity`.
        assert!(
            matches!(memory, StoreError::Conflict { field: None, .. }),
            "{memory:?}"
        );
        p.get(USERS, 2, Filter::everything())
            .await
            .expect("the user is still there");
        p.count(TASKS, json!({})).await;
    })
    .await;
}

/// A connection lost mid-op is `unavailable`, never `internal`, and the pool recovers.
#[tokio::test]
async fn lost_connections_are_unavailable_then_recover() {
    with_pair(registry(), |p| async move {
        p.insert_id(USERS, json!({"username": "a"})).await;
        let url = database_url().expect("set");
        let connecting = tokio_postgres::connect(&url, tokio_postgres::NoTls);
        let (admin, connection) = connecting.await.expect("connect");
        tokio::spawn(connection);
        // Hold the table so the store's op waits inside the server, then cut its connection.
        let lock = format!(
            "BEGIN; LOCK \"{}\".auth_user IN ACCESS EXCLUSIVE MODE",
            p.schema
        );
        admin.batch_execute(&lock).await.expect("lock");
        let op = StoreOp::Get {
            binding: p.binding(USERS),
            pk: 1,
            scope: Filter::everything(),
        };
        let pending = tokio::spawn({
            let (p, op) = (Arc::clone(&p), op.clone());
            async move { p.pg.execute(op).await }
        });
        let waiting = "SELECT count(*) FROM pg_stat_activity \
                       WHERE application_name = $1 AND wait_event_type = 'Lock'";
        let mut tries = 0;
        while admin
            .query_one(waiting, &[&p.schema])
            .await
            .expect("poll")
            .get::<_, i64>(0)
            == 0
        {
            tries += 1;
            assert!(tries < 500, "the op never waited for the lock");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let cut = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                   WHERE application_name = $1";
        admin.execute(cut, &[&p.schema]).await.expect("terminate");
        let lost = pending.await.expect("the op ran");
        assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
        admin.batch_execute("ROLLBACK").await.expect("unlock");

        let mut recovered = false;
        for _ in 0..50 {
            match p.pg.execute(op.clone()).await {
                Ok(out) => {
                    assert!(matches!(out, StoreOutput::Row(Some(_))), "{out:?}");
                    recovered = true;
                    break;
                }
                Err(e) => assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(recovered, "the pool did not recover");
    })
    .await;
}

#[tokio::test]
async fn restrict_message_parity() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        p.insert_id(TASKS, json!({"title": "t", "reviewer_id": 2}))
            .await;
        p.delete(USERS, 2, Filter::everything()).await.unwrap_err();
    })
    .await;
}

#[tokio::test]
async fn failed_inserts_use_up_an_id() {
    with_pair(registry(), |p| async move {
        p.insert_id(USERS, json!({"username": "a"})).await;
        p.insert(USERS, json!({"username": "a"})).await.unwrap_err();
        p.insert(TASKS, json!({"title": "x", "owner_id": 999}))
            .await
            .unwrap_err();
        p.insert_id(USERS, json!({"username": "b"})).await;
        p.insert_id(TASKS, json!({"title": "y"})).await;
    })
    .await;
}

#[tokio::test]
async fn declared_defaults_are_canonical() {
    let items = ModelBinding::new("shop_item")
        .field(Field::decimal("price", 2).default(0))
        .field(Field::float("weight").default(1))
        .field(Field::datetime("since").default("2026-01-01T00:00:00Z"));
    let registry = Registry::new().model(items).expect("a valid registry");
    with_pair(registry, |p| async move {
        p.insert_id("shop.Item", json!({})).await;
    })
    .await;
}

#[tokio::test]
async fn json_floats_round_trip() {
    with_pair(registry(), |p| async move {
        // Parsed from text, as a client's frame is.
        let data =
            r#"{"username": "f", "profile": [1.0715660391465826e-75, -1.603964615428183e+143]}"#;
        let data: Value = serde_json::from_str(data).expect("JSON");
        p.insert_id(USERS, data).await;
    })
    .await;
}

#[tokio::test]
async fn numbers_compare_by_value() {
    with_pair(registry(), |p| async move {
        p.insert_id(
            USERS,
            json!({"username": "z", "score": -0.0, "profile": {"n": 1.0}}),
        )
        .await;
        p.insert_id(
            USERS,
            json!({"username": "y", "score": 0.0, "profile": 2.0}),
        )
        .await;
        p.count(USERS, json!({"score": 0.0})).await;
        p.count(USERS, json!({"profile": {"n": 1}})).await;
        p.count(USERS, json!({"profile__ne": 2})).await;
        p.search(USERS, &json!({}), None, &json!("score"), (0, 10))
            .await;
    })
    .await;
}

#[tokio::test]
async fn nul_characters_are_refused_before_the_store() {
    let registry = registry();
    let users = registry.get(USERS).expect("bound");
    for data in [
        json!({"username": "a\u{0}b"}),
        json!({"username": "a", "profile": {"k": "\u{0}"}}),
    ] {
        assert!(
            validate_write(users, object(&data), WriteMode::Create).is_err(),
            "{data}"
        );
    }
    let filters = json!({"username__contains": "\u{0}"});
    assert!(parse_filter(users, object(&filters), None, 100).is_err());
}
