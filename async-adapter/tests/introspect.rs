//! Existing tables, written in plain SQL as someone else would, bound by introspection on
//! both PostgreSQL stores; declared bindings that do not fit their table stop the start.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails. Each test works in a schema of its own, dropped afterwards.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{PgConfig, PgErrorKind, PgStore};
use chanbind_engine::binding::{EnumType, Field, FieldKind, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::{Engine, EngineError};

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("introspect: DATABASE_URL is not set; skipping");
            None
        }
    }
}

/// The schema someone else wrote: a review table keyed by identity, with defaults, an enum,
/// a generated column, an array, a type chanbind has no kind for, and foreign keys (one
/// `ON DELETE CASCADE`) to a text-keyed and a uuid-keyed table.
const SCHEMA: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE author (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL UNIQUE
);
CREATE TABLE book (
    isbn text PRIMARY KEY,
    title varchar(200) NOT NULL,
    price numeric(10,2) NOT NULL DEFAULT 0,
    author_id uuid REFERENCES author ON DELETE SET NULL
);
CREATE TABLE review (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    book_isbn text NOT NULL REFERENCES book ON DELETE CASCADE,
    author_id uuid REFERENCES author,
    mood mood NOT NULL DEFAULT 'ok',
    stars smallint NOT NULL,
    body text,
    body_length integer GENERATED ALWAYS AS (length(body)) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamp,
    tags text[],
    blob bytea
);
COMMENT ON COLUMN review.stars IS 'One to five';
CREATE TABLE opaque (id bigserial PRIMARY KEY, blob bytea NOT NULL);
CREATE VIEW review_view AS SELECT * FROM review;
CREATE TABLE keyless (name text);
CREATE TABLE pair (a int, b int, PRIMARY KEY (a, b));
"#;

/// A fresh schema holding [`SCHEMA`], the store's connections on it; dropped after `body`.
async fn with_schema<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Arc<PgStore>, chanbind_sync::postgres::PgConfig) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(url) = database_url() else { return };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let config = PgConfig {
        url,
        schema: Some(format!("introspect_{test}_{}_{nanos}", std::process::id())),
        pool_size: 2,
        ..Default::default()
    };
    let store = Arc::new(PgStore::connect(config.clone()).await.expect("connect"));
    let (client, connection) = tokio_postgres::connect(&config.url, tokio_postgres::NoTls)
        .await
        .expect("connect for the schema");
    tokio::spawn(connection);
    let schema = config.schema.clone().expect("a schema");
    client
        .batch_execute(&format!("SET search_path = {schema}; {SCHEMA}"))
        .await
        .expect("the schema's SQL");
    let outcome = tokio::spawn(body(Arc::clone(&store), config)).await;
    store.drop_schema().await.expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// What introspection gives for `review`, field by field.
fn expected_review(schema: &str) -> Vec<Field> {
    let int4 = |f: Field| f.min(i32::MIN).max(i32::MAX);
    vec![
        Field::integer("id").read_only().not_null(),
        Field::text("book_isbn").required(),
        Field::uuid("author_id"),
        Field::enumeration(
            "mood",
            EnumType::new(Some(schema), "mood"),
            ["sad", "ok", "happy"],
        )
        .not_null(),
        Field::integer("stars")
            .min(i16::MIN)
            .max(i16::MAX)
            .required()
            .help_text("One to five"),
        Field::text("body"),
        int4(Field::integer("body_length")).read_only(),
        Field::datetime("created_at").not_null(),
        Field::local_datetime("seen_at"),
        Field::array("tags", FieldKind::Text),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn both_stores_bind_a_table_as_postgres_describes_it() {
    with_schema("bind", |store, config| async move {
        let schema = config.schema.clone().expect("a schema");
        let review = store.introspect("review").await.expect("introspect review");
        assert_eq!(review.table(), "review");
        assert_eq!(review.fields(), expected_review(&schema).as_slice());
        // Schema-qualified, as the catalog spells it: the same table.
        let qualified = store
            .introspect(&format!("{schema}.review"))
            .await
            .expect("introspect schema.review");
        assert_eq!(qualified.fields(), review.fields());

        let sync = chanbind_sync::postgres::PgStore::connect(config).expect("connect");
        let blocking = sync
            .introspect("review")
            .expect("introspect on the sync store");
        assert_eq!(blocking.fields(), review.fields());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_that_cannot_be_bound_are_refused_naming_why() {
    with_schema("refused", |store, _| async move {
        for (table, why) in [
            ("nope", "table nope does not exist"),
            ("Review", "table Review does not exist"),
            ("review_view", "is not a table"),
            ("keyless", "has no primary key"),
            ("pair", "has a primary key of several columns (a, b)"),
            ("opaque", "opaque.blob is of type bytea, which chanbind cannot bind, and it is NOT NULL without a default"),
            ("a.b.c", "is not a table name"),
        ] {
            let e = store.introspect(table).await.unwrap_err();
            assert_eq!(e.kind(), PgErrorKind::Introspect, "{table}: {e}");
            assert!(e.to_string().contains(why), "{table}: {e}");
        }
    })
    .await;
}

/// A declared binding of `review` with a wrong type, a missing column, a nullable field on a
/// NOT NULL column and a writable generated column.
fn mismatched_review() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("review")
                .field(Field::string("stars"))
                .field(Field::text("nope"))
                .field(Field::text("book_isbn"))
                .field(Field::integer("body_length")),
        )
        .expect("a valid registry")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_binding_that_does_not_fit_stops_the_start_naming_each_column() {
    with_schema("mismatch", |store, config| async move {
        let expected = [
            "review.stars: declared string, found smallint",
            "review.nope: declared field nope (text), found no such column",
            "review.book_isbn: declared nullable (not required, no default), found text NOT NULL",
            "review.body_length: declared writable, found a generated column",
        ];
        let e = Engine::start(mismatched_review(), store.clone(), Limits::default())
            .await
            .err()
            .expect("the start is refused");
        assert!(matches!(e, EngineError::Schema(_)), "{e}");
        for part in expected {
            assert!(e.to_string().contains(part), "{part} in {e}");
        }
        // Migrating creates nothing over the table, and says the same.
        let e = store.migrate(&mismatched_review()).await.unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Mismatch);
        assert!(e.to_string().contains(expected[0]), "{e}");

        let sync = Arc::new(chanbind_sync::postgres::PgStore::connect(config).expect("connect"));
        let e = Engine::start(mismatched_review(), sync, Limits::default())
            .await
            .err()
            .expect("the start is refused on the sync store too");
        assert!(e.to_string().contains(expected[0]), "{e}");

        // The introspected binding fits, of course.
        let fits = Registry::new()
            .model(store.introspect("review").await.expect("introspect"))
            .expect("a valid registry");
        Engine::start(fits, store, Limits::default())
            .await
            .expect("an introspected binding starts");
    })
    .await;
}
