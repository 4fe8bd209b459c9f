//! Existing tables, written in plain SQL as someone else would, bound by introspection on
//! both PostgreSQL stores; declared bindings that do not fit their table stop the start.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails. Each test works in a schema of its own, dropped afterwards.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chanbind_async::postgres::{PgConfig, PgErrorKind, PgStore};
use chanbind_engine::binding::{EnumType, Field, FieldKind, ModelBinding, OnDelete, Registry};
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
CREATE TABLE "Order" (
    "Id" serial PRIMARY KEY,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "Total" numeric(8,2)
);
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

/// The bindings one would declare for the four tables: what introspection must give.
fn expected(schema: &str) -> Registry {
    let int4 = |f: Field| f.min(i32::MIN).max(i32::MAX);
    let author = ModelBinding::new("author")
        .key(Field::uuid("id"))
        .field(Field::text("name").not_null().unique());
    let book = ModelBinding::new("book")
        .key(Field::text("isbn"))
        .field(Field::string("title").max_length(200).not_null())
        .field(
            Field::decimal("price", 2)
                .min(-99_999_999.99)
                .max(99_999_999.99)
                .server_default()
                .not_null(),
        )
        .field(Field::foreign_key("author_id", "author").on_delete(OnDelete::SetNull));
    let review = ModelBinding::new("review")
        .key(Field::integer("id"))
        .field(
            Field::foreign_key("book_isbn", "book")
                .on_delete(OnDelete::Cascade)
                .not_null(),
        )
        .field(Field::foreign_key("author_id", "author"))
        .field(
            Field::enumeration(
                "mood",
                EnumType::new(Some(schema), "mood"),
                ["sad", "ok", "happy"],
            )
            .server_default()
            .not_null(),
        )
        .field(
            Field::integer("stars")
                .min(i16::MIN)
                .max(i16::MAX)
                .not_null()
                .help_text("One to five"),
        )
        .field(Field::text("body"))
        .field(int4(Field::integer("body_length")).read_only())
        .field(Field::datetime("created_at").server_default().not_null())
        .field(Field::local_datetime("seen_at"))
        .field(Field::array("tags", FieldKind::Text));
    let order = ModelBinding::new("Order")
        .schema(schema)
        .key(int4(Field::integer("Id")))
        .field(Field::datetime("createdAt").server_default().not_null())
        .field(Field::decimal("Total", 2).min(-999_999.99).max(999_999.99));
    [author, book, review, order]
        .into_iter()
        .try_fold(Registry::new(), Registry::model)
        .expect("a valid registry")
}

/// The four tables, the last schema-qualified and mixed case.
fn names(schema: &str) -> [String; 4] {
    ["author", "book", "review"]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("{schema}.Order")])
        .collect::<Vec<_>>()
        .try_into()
        .expect("four names")
}

fn registry(bindings: Vec<ModelBinding>) -> Registry {
    bindings
        .into_iter()
        .try_fold(Registry::new(), Registry::model)
        .expect("a valid registry")
}

/// Every binding's stream, key column, key kind, key source and fields.
fn shape(registry: &Registry) -> Vec<String> {
    registry
        .models()
        .map(|b| {
            format!(
                "{} {} {:?} {:?} {:?}",
                b.stream(),
                b.key_field().column_name(),
                b.key_kind(),
                b.key_source_kind(),
                b.fields()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn both_stores_bind_tables_as_postgres_describes_them() {
    with_schema("bind", |store, config| async move {
        let schema = config.schema.clone().expect("a schema");
        let names = names(&schema);
        let tables: Vec<&str> = names.iter().map(String::as_str).collect();
        let bound = registry(store.introspect_all(&tables).await.expect("introspect"));
        let expected = expected(&schema);
        assert_eq!(shape(&bound), shape(&expected));
        assert_eq!(
            bound.models().map(|b| b.stream()).collect::<Vec<_>>(),
            ["author", "book", &format!("{schema}.Order"), "review"]
        );

        // One table alone: its foreign keys are plain fields of the key's type.
        let alone = store.introspect("review").await.expect("introspect review");
        assert_eq!(
            alone.get("book_isbn"),
            Some(&Field::text("book_isbn").not_null())
        );
        assert_eq!(alone.get("author_id"), Some(&Field::uuid("author_id")));

        let sync = chanbind_sync::postgres::PgStore::connect(config).expect("connect");
        let blocking = registry(sync.introspect_all(&tables).expect("introspect on sync"));
        assert_eq!(shape(&blocking), shape(&expected));

        // What introspection gives fits, on either store.
        Engine::start(bound, store, Limits::default())
            .await
            .expect("introspected bindings start");
        Engine::start(blocking, Arc::new(sync), Limits::default())
            .await
            .expect("introspected bindings start on the sync store");
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

/// Declared bindings of `review` with a wrong type, a missing column, a nullable field on a
/// NOT NULL column and a writable generated column, and of `book` with the default integer
/// key over its text key.
fn mismatched() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("review")
                .field(Field::string("stars"))
                .field(Field::text("nope"))
                .field(Field::text("book_isbn"))
                .field(Field::integer("body_length"))
                .field(Field::boolean("seen_at").column("body").server_default()),
        )
        .and_then(|r| r.model(ModelBinding::new("book")))
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
            "review.body: declared boolean, found text",
            "book.id: declared the primary key, found the primary key (isbn)",
            "book.id: declared field id (integer), found no such column",
        ];
        let e = Engine::start(mismatched(), store.clone(), Limits::default())
            .await
            .expect_err("the start is refused");
        assert!(matches!(e, EngineError::Schema(_)), "{e}");
        for part in expected {
            assert!(e.to_string().contains(part), "{part} in {e}");
        }
        // Migrating creates nothing over the tables, and says the same.
        let e = store.migrate(&mismatched()).await.unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Mismatch);
        assert!(e.to_string().contains(expected[0]), "{e}");

        let sync = Arc::new(chanbind_sync::postgres::PgStore::connect(config).expect("connect"));
        let e = Engine::start(mismatched(), sync, Limits::default())
            .await
            .expect_err("the start is refused on the sync store too");
        assert!(e.to_string().contains(expected[0]), "{e}");

        // A default declared where the column has none is named too.
        let e = Engine::start(
            Registry::new()
                .model(ModelBinding::new("review").field(Field::text("body").server_default()))
                .expect("a valid registry"),
            store,
            Limits::default(),
        )
        .await
        .expect_err("refused");
        assert!(
            e.to_string()
                .contains("review.body: declared server_default, found text without a default"),
            "{e}"
        );
    })
    .await;
}
