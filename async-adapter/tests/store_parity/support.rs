//! The pair of stores every parity test drives, and what the tests share.

#![allow(dead_code)]

pub(crate) use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use chanbind_async::postgres::{PgConfig, PgStore};
pub(crate) use chanbind_engine::binding::{Field, ModelBinding, OnDelete, Registry};
pub(crate) use chanbind_engine::filter::{parse_filter, Filter, Ordering};
pub(crate) use chanbind_engine::key::Key;
pub(crate) use chanbind_engine::store::{MemoryStore, Store, StoreError, StoreOp, StoreOutput};
pub(crate) use chanbind_engine::validate::{validate_write, WriteMode};
pub(crate) use serde_json::{json, Map, Value};

pub(crate) const USERS: &str = "auth.User";
pub(crate) const TASKS: &str = "todo.Task";
pub(crate) const NOTES: &str = "todo.Note";

pub(crate) fn registry() -> Registry {
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
pub(crate) struct Pair {
    /// The schema, also the `application_name` of the store's connections.
    pub(crate) schema: String,
    pub(crate) registry: Registry,
    pub(crate) memory: MemoryStore,
    pub(crate) pg: PgStore,
}

/// Runs `body` against a fresh pair and drops the schema afterwards, even when `body` panics.
pub(crate) async fn with_pair<F, Fut>(registry: Registry, body: F)
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
        ..Default::default()
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
pub(crate) fn with_application_name(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

pub(crate) fn database_url() -> Option<String> {
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

pub(crate) fn object(v: &Value) -> &Map<String, Value> {
    v.as_object().expect("a JSON object")
}

pub(crate) fn conflict_on(e: &StoreError, field: &str) -> bool {
    matches!(e, StoreError::Conflict { field: Some(f), .. } if f == field)
}

type Output = Result<StoreOutput, StoreError>;

impl Pair {
    pub(crate) fn binding(&self, stream: &str) -> Arc<ModelBinding> {
        Arc::clone(self.registry.get(stream).expect("a bound stream"))
    }

    /// Runs `op` on both stores, asserts the outputs are equal and returns them.
    pub(crate) async fn both(&self, what: &str, op: StoreOp) -> Output {
        let memory = self.memory.execute(op.clone()).await;
        let pg = self.pg.execute(op).await;
        assert_eq!(
            pg, memory,
            "{what}: postgres (left) and memory (right) differ"
        );
        memory
    }

    pub(crate) async fn insert(&self, stream: &str, data: Value) -> Output {
        let binding = self.binding(stream);
        let values = validate_write(&binding, object(&data), WriteMode::Create).expect("valid");
        self.both(
            &format!("insert {data}"),
            StoreOp::Insert { binding, values },
        )
        .await
    }

    /// Inserts into a binding with an integer key and returns the key.
    pub(crate) async fn insert_id(&self, stream: &str, data: Value) -> i64 {
        self.insert_key(stream, data)
            .await
            .as_i64()
            .expect("an integer key")
    }

    /// Inserts and returns the new row's key, of whatever kind.
    pub(crate) async fn insert_key(&self, stream: &str, data: Value) -> Key {
        match self.insert(stream, data).await {
            Ok(StoreOutput::Changed(Some(change))) => change.pk,
            other => panic!("insert failed: {other:?}"),
        }
    }

    pub(crate) async fn update(
        &self,
        stream: &str,
        pk: impl Into<Key>,
        data: Value,
        scope: Filter,
    ) -> Output {
        let binding = self.binding(stream);
        let pk: Key = pk.into();
        let values = validate_write(&binding, object(&data), WriteMode::Update).expect("valid");
        let what = format!("update {pk} {data}");
        let op = StoreOp::Update {
            binding,
            pk,
            values,
            scope,
        };
        self.both(&what, op).await
    }

    pub(crate) async fn delete(&self, stream: &str, pk: impl Into<Key>, scope: Filter) -> Output {
        let binding = self.binding(stream);
        let pk: Key = pk.into();
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

    pub(crate) async fn get(&self, stream: &str, pk: impl Into<Key>, scope: Filter) -> Output {
        let binding = self.binding(stream);
        let pk: Key = pk.into();
        self.both(&format!("get {pk}"), StoreOp::Get { binding, pk, scope })
            .await
    }

    /// A filter that may follow relations, as the server follows them (no related scopes).
    pub(crate) fn scope(&self, stream: &str, filters: &Value) -> Filter {
        let binding = self.binding(stream);
        chanbind_engine::filter::parse_scope(&self.registry, &binding, object(filters))
            .expect("a valid scope")
    }

    /// A search whose filter and order were parsed by `parse`, both stores asserted equal;
    /// returns the count.
    pub(crate) async fn search_parsed(
        &self,
        stream: &str,
        what: &str,
        filter: Filter,
        order: Ordering,
        window: (u64, u64),
    ) -> u64 {
        let (offset, limit) = window;
        let op = StoreOp::Search {
            binding: self.binding(stream),
            filter,
            order,
            offset,
            limit,
        };
        match self.both(what, op).await {
            Ok(StoreOutput::Page { count, .. }) => count,
            other => panic!("{what}: {other:?}"),
        }
    }

    pub(crate) fn filter(&self, stream: &str, filters: &Value, query: Option<&str>) -> Filter {
        let binding = self.binding(stream);
        parse_filter(&binding, object(filters), query, 100).expect("a valid filter")
    }

    /// A search of `stream` in `order` over the window `(offset, limit)`; returns the count
    /// so callers can check a case is not trivially empty.
    pub(crate) async fn search(
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

    pub(crate) async fn count(&self, stream: &str, filters: Value) -> u64 {
        self.search(stream, &filters, None, &Value::Null, (0, 1000))
            .await
    }
}

/// Users with mixed case, non-ASCII text, ties and nulls in every column.
pub(crate) async fn seed_users(p: &Pair) {
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
