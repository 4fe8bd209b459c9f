//! The store keeps a bounded number of prepared statements per connection, however many
//! distinct op shapes a client sends: the least recently used are closed on the server.

use crate::support::*;

/// A filter key and the operand it takes in the `i`th shape.
type Key = (&'static str, fn(u32) -> Value);

/// Filters over `auth_user`, each a different statement text when combined.
const KEYS: [Key; 12] = [
    ("username", |i| json!(format!("u{i}"))),
    ("username__icontains", |i| json!(format!("{i}"))),
    ("email__startswith", |_| json!("a")),
    ("age__gt", |i| json!(i)),
    ("age__lte", |i| json!(i + 100)),
    ("balance__gte", |_| json!("1.5")),
    ("score__lt", |_| json!(2.5)),
    ("birthday__gt", |_| json!("2000-01-01")),
    ("last_login__lt", |_| json!("2026-01-01T00:00:00Z")),
    ("is_active", |_| json!(true)),
    ("bio__isnull", |i| json!(i % 2 == 0)),
    ("token__ne", |_| {
        json!("00000000-0000-0000-0000-000000000001")
    }),
];

/// The `i`th distinct search shape: the keys of `i`'s bits, in one of four orders.
fn shape(i: u32) -> (Value, Value) {
    let mut filters = Map::new();
    for (bit, (key, value)) in KEYS.iter().enumerate() {
        if (i >> 2) & (1 << bit) != 0 {
            filters.insert((*key).to_owned(), value(i));
        }
    }
    let order = ["username", "-age", "score", "-last_login"][(i % 4) as usize];
    (Value::Object(filters), json!([order]))
}

#[tokio::test]
async fn distinct_shapes_keep_the_prepared_statements_bounded() {
    let Some(url) = database_url() else { return };
    let schema = format!("stmts_{}", std::process::id());
    let capacity = 16;
    let connect = |statement_cache_capacity| {
        PgStore::connect(PgConfig {
            url: url.clone(),
            schema: Some(schema.clone()),
            // One connection, so the count the store reports is the one that ran every op.
            pool_size: 1,
            statement_cache_capacity,
        })
    };
    let pg = connect(capacity).await.expect("connect to DATABASE_URL");
    let registry = registry();
    pg.migrate(&registry).await.expect("migrate");
    let pg = Arc::new(pg);
    let pg2 = Arc::clone(&pg);
    let wide = connect(1000).await.expect("connect to DATABASE_URL");
    let users = Arc::clone(registry.get(USERS).expect("bound"));
    // The schema goes even when an assertion fails.
    let result = tokio::spawn(async move {
        let search = |filters: &Value, order: &Value| StoreOp::Search {
            binding: Arc::clone(&users),
            filter: parse_filter(&users, object(filters), None, 1000).expect("a valid filter"),
            order: Ordering::parse(&users, Some(order)).expect("a valid order"),
            offset: 0,
            limit: 10,
        };
        many_shapes(&pg2, &search, capacity as u64).await;
        lists_share_a_statement(&wide, &search).await;
    })
    .await;
    pg.drop_schema().await.expect("drop the test schema");
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs 2,000 distinct search shapes and checks the connection never holds more than
/// `capacity` statements.
async fn many_shapes(pg: &PgStore, search: &impl Fn(&Value, &Value) -> StoreOp, capacity: u64) {
    for i in 0..2_000 {
        let (filters, order) = shape(i);
        let out = pg.execute(search(&filters, &order)).await;
        assert!(matches!(out, Ok(StoreOutput::Page { .. })), "{out:?}");
        if i % 250 == 0 {
            let held = pg.prepared_statements().await.expect("count");
            assert!(held <= capacity, "after {i} shapes: {held} prepared");
        }
    }
    let held = pg.prepared_statements().await.expect("count");
    assert_eq!(held, capacity, "the cache is full, and no fuller");
}

/// `__in` lists of 200 lengths, on a store with room to spare, are one count and one page.
async fn lists_share_a_statement(pg: &PgStore, search: &impl Fn(&Value, &Value) -> StoreOp) {
    for n in 1..=200 {
        let filters = json!({"age__in": (0..n).collect::<Vec<_>>()});
        let out = pg.execute(search(&filters, &json!(["age"]))).await;
        assert!(matches!(out, Ok(StoreOutput::Page { .. })), "{out:?}");
    }
    assert_eq!(pg.prepared_statements().await.expect("count"), 2);
}
