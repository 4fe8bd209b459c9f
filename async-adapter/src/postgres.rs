//! The PostgreSQL store on tokio-postgres, with a deadpool connection pool.
//!
//! It runs the statements [`chanbind_engine::sql`] builds, so it answers every op exactly as
//! the in-memory store does; `tests/store_parity.rs` checks that against a real server.
//!
//! ```no_run
//! # async fn demo(registry: chanbind_engine::binding::Registry) -> Result<(), Box<dyn std::error::Error>> {
//! use chanbind_async::postgres::{PgConfig, PgStore};
//!
//! let store = PgStore::connect(PgConfig {
//!     url: "postgres://postgres@127.0.0.1:5432/app".into(),
//!     schema: None,
//!     pool_size: 16,
//!     ..Default::default()
//! })
//! .await?;
//! store.migrate(&registry).await?;
//! # Ok(()) }
//! ```
//!
//! Every connection runs with `TimeZone=UTC` and `extra_float_digits=1`, whatever the server's
//! defaults, and with `search_path` set to the configured schema, if any.

mod capture;
mod error;
mod layer;
mod pool;
mod transaction;

pub use capture::CaptureListener;
pub use layer::PgLayer;

pub use chanbind_engine::sql::{PgConfig, PgError, PgErrorKind};

use chanbind_engine::binding::{ModelBinding, Registry};
use chanbind_engine::sql::{
    self, drop_schema_sql, introspect, Plan, ResultRows, TableStreams, APPLICATION_NAME,
    CONNECT_TIMEOUT, MIGRATE_LOCK, WAIT_TIMEOUT,
};
use chanbind_engine::store::{
    PingError, PingFuture, SchemaError, SchemaFuture, Store, StoreError, StoreFuture, StoreOp,
    PING_TIMEOUT,
};
use chanbind_engine::trace;
use deadpool_postgres::{ManagerConfig, RecyclingMethod, Runtime};
use futures_util::FutureExt as _;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls};

use error::Failure;
use pool::{Manager, Pool};
use tracing::Instrument;

/// A [`Store`] on PostgreSQL.
pub struct PgStore {
    pool: Pool,
    /// The connection settings, for the capture listener's own connection.
    pg: tokio_postgres::Config,
    /// This node's id, carried by every connection of the pool as `chanbind.origin`: the
    /// capture triggers send nothing for its writes, which the node publishes in-process and
    /// relays through its channel layer instead.
    origin: String,
    schema: Option<String>,
    /// Table to stream, for naming the stream whose rows block a delete.
    streams: TableStreams,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PgStore {
    /// Opens a pool and checks that one connection works. With a schema, creates it if it is
    /// missing.
    pub async fn connect(config: PgConfig) -> Result<PgStore, PgError> {
        let mut pg: tokio_postgres::Config = config.url.parse().map_err(|e| {
            PgError::with_source(PgErrorKind::Config, "the database URL is not valid", e)
        })?;
        config.check()?;
        let origin = sql::capture::new_origin();
        let options = config.session_options(pg.get_options(), &origin);
        pg.options(options);
        if pg.get_application_name().is_none() {
            pg.application_name(APPLICATION_NAME);
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::new(
            deadpool_postgres::Manager::from_config(
                pg.clone(),
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            ),
            config.statement_cache_capacity,
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| PgError::with_source(PgErrorKind::Config, "cannot build the pool", e))?;
        let create_schema = config.create_schema_sql();
        let store = PgStore {
            pool,
            pg,
            origin,
            schema: config.schema,
            streams: TableStreams::default(),
        };
        let conn = store.conn().await?;
        if let Some(statement) = create_schema {
            // The search path names the schema before it exists; PostgreSQL re-reads the path
            // once it does, so tables made afterwards land in it.
            conn.client.batch_execute(&statement).await.map_err(|e| {
                PgError::with_source(PgErrorKind::Schema, "cannot create the schema", e)
            })?;
        }
        Ok(store)
    }

    async fn conn(&self) -> Result<deadpool::managed::Object<Manager>, PgError> {
        self.pool
            .get()
            .await
            .map_err(|e| PgError::with_source(PgErrorKind::Connect, "no connection", e))
    }

    /// Creates every bound table that is missing ([`sql::create_tables`]), in one transaction
    /// under an advisory lock so concurrent servers do not race, then checks every bound
    /// table against its binding: a table that existed with another shape is an error
    /// ([`PgErrorKind::Mismatch`]) naming each `table.column`, never silently served. Running
    /// it again changes nothing. Also [`register`](Self::register)s the bindings.
    pub async fn migrate(&self, registry: &Registry) -> Result<(), PgError> {
        let schema_error = |e| PgError::with_source(PgErrorKind::Schema, "migration failed", e);
        let mut conn = self.conn().await?;
        let tx = conn.client.transaction().await.map_err(schema_error)?;
        tx.batch_execute(MIGRATE_LOCK).await.map_err(schema_error)?;
        for statement in sql::create_tables(registry) {
            tx.batch_execute(&statement).await.map_err(schema_error)?;
        }
        tx.commit().await.map_err(schema_error)?;
        // The check takes a connection of its own: with a pool of one, this one must be back.
        drop(conn);
        self.register(registry);
        self.check(registry).await.map_err(PgError::from)
    }

    /// Checks every bound table against its binding ([`introspect::check_registry`]): the
    /// store's [`Store::check_schema`], which `Engine::start` runs.
    async fn check(&self, registry: &Registry) -> Result<(), SchemaError> {
        let plan = Plan {
            statements: introspect::check_statements(registry),
            read_only: true,
        };
        let results = self
            .run(&plan)
            .await
            .map_err(|e| SchemaError::Unavailable(e.to_string()))?;
        introspect::check_registry(registry, results)
    }

    /// Binds an existing table as PostgreSQL describes it ([`introspect`]); `table` is
    /// `name` or `schema.name`, case kept ([`introspect::TableName`]). Its foreign keys stay
    /// plain typed fields: [`introspect_all`](Self::introspect_all) binds several tables with
    /// the relations among them.
    pub async fn introspect(&self, table: &str) -> Result<ModelBinding, PgError> {
        let mut bindings = self.introspect_all(&[table]).await?;
        Ok(bindings.remove(0))
    }

    /// Binds existing tables as PostgreSQL describes them, in the order given, each foreign
    /// key between two of them as a foreign key field ([`introspect::bind_described`]). All
    /// are read in one snapshot.
    pub async fn introspect_all(&self, tables: &[&str]) -> Result<Vec<ModelBinding>, PgError> {
        let names = introspect::parse_names(tables)?;
        let plan = Plan {
            statements: names.iter().map(introspect::describe).collect(),
            read_only: true,
        };
        let results = self.run(&plan).await.map_err(|e| {
            PgError::new(
                PgErrorKind::Connect,
                format!("cannot read the catalog: {e}"),
            )
        })?;
        Ok(introspect::bind_described(&names, results)?)
    }

    /// This node's id, as the capture triggers report it for the writes this store makes.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The configured schema, if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Installs the capture triggers on every bound table ([`sql::capture::install_sql`]), in
    /// one transaction under the migration lock. Idempotent.
    pub async fn install_capture(&self, registry: &Registry) -> Result<(), PgError> {
        self.run_schema(
            sql::capture::install_sql(registry),
            "cannot install capture",
        )
        .await
    }

    /// Removes the capture triggers and their function. Idempotent.
    pub async fn remove_capture(&self, registry: &Registry) -> Result<(), PgError> {
        self.run_schema(sql::capture::remove_sql(registry), "cannot remove capture")
            .await
    }

    async fn run_schema(&self, statements: Vec<String>, what: &'static str) -> Result<(), PgError> {
        let schema_error = |e| PgError::with_source(PgErrorKind::Schema, what, e);
        let mut conn = self.conn().await?;
        let tx = conn.client.transaction().await.map_err(schema_error)?;
        tx.batch_execute(MIGRATE_LOCK).await.map_err(schema_error)?;
        for statement in statements {
            tx.batch_execute(&statement).await.map_err(schema_error)?;
        }
        tx.commit().await.map_err(schema_error)
    }

    /// Tells the store which stream each table serves, so a delete refused by another
    /// table's foreign key names that stream. [`migrate`](Self::migrate) does this itself.
    pub fn register(&self, registry: &Registry) {
        self.streams.register(registry);
    }

    /// Drops the configured schema and everything in it; for tests' cleanup. Refused when no
    /// schema is configured, so it never drops `public`.
    pub async fn drop_schema(&self) -> Result<(), PgError> {
        let statement = drop_schema_sql(self.schema.as_deref())?;
        self.conn()
            .await?
            .client
            .batch_execute(&statement)
            .await
            .map_err(|e| PgError::with_source(PgErrorKind::Schema, "cannot drop the schema", e))
    }

    /// How many prepared statements the server holds for one of the pool's connections
    /// (`pg_prepared_statements` is per session): with a pool of one connection, that
    /// connection's. At most [`PgConfig::statement_cache_capacity`]; for tests and diagnostics.
    pub async fn prepared_statements(&self) -> Result<u64, PgError> {
        let query_error =
            |e| PgError::with_source(PgErrorKind::Connect, "cannot count prepared statements", e);
        let conn = self.conn().await?;
        // A simple query prepares nothing, so it does not count itself.
        let messages = conn
            .client
            .simple_query("SELECT count(*) FROM pg_prepared_statements")
            .await
            .map_err(query_error)?;
        Ok(messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            })
            .and_then(|t| t.parse().ok())
            .unwrap_or_default())
    }

    /// Runs the plan's statements in one transaction and collects their text columns.
    async fn run(&self, plan: &Plan) -> Result<Vec<ResultRows>, Failure> {
        let mut conn = self.pool.get().await.map_err(Failure::Pool)?;
        let pool::Conn { client, statements } = &mut *conn;
        let tx = if plan.read_only {
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?
        } else {
            client.transaction().await?
        };
        let mut results = Vec::with_capacity(plan.statements.len());
        for statement in &plan.statements {
            let prepared = pool::prepared(statements, &tx, &statement.text).await?;
            let params: Vec<&(dyn ToSql + Sync)> = statement
                .params
                .iter()
                .map(|p| p as &(dyn ToSql + Sync))
                .collect();
            let rows = tx.query(&prepared, &params).await?;
            let rows = rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.try_get::<_, Option<String>>(i))
                        .collect()
                })
                .collect::<Result<ResultRows, _>>()?;
            results.push(rows);
        }
        tx.commit().await?;
        Ok(results)
    }
}

impl Store for PgStore {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        let span = trace::store_span(&op, self.kind(), false);
        Box::pin(
            async move {
                let plan = sql::plan(&op);
                match self.run(&plan).await {
                    Ok(results) => sql::decode(&op, results),
                    Err(failure) => {
                        let streams = self.streams.snapshot();
                        Err(error::classify(&op, &failure, |table| {
                            streams.get(table).cloned()
                        }))
                    }
                }
            }
            .instrument(span),
        )
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn pool_status(&self) -> Option<chanbind_engine::store::PoolStatus> {
        let status = self.pool.status();
        Some(chanbind_engine::store::PoolStatus {
            max_size: status.max_size,
            in_use: status.size.saturating_sub(status.available),
            waiting: status.waiting,
        })
    }

    fn notification_queue_usage(&self) -> chanbind_engine::store::UsageFuture<'_> {
        Box::pin(async move {
            let conn = self
                .conn()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let row = conn
                .client
                .query_one("SELECT pg_notification_queue_usage()", &[])
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(Some(row.get::<_, f64>(0)))
        })
    }

    fn check_schema<'a>(&'a self, registry: &'a Registry) -> SchemaFuture<'a> {
        Box::pin(self.check(registry))
    }

    fn begin(self: std::sync::Arc<Self>) -> chanbind_engine::store::BeginFuture {
        transaction::begin(self)
    }

    fn ping(&self) -> PingFuture<'_> {
        Box::pin(
            tokio::time::timeout(PING_TIMEOUT, self.ping_once())
                .map(|answer| answer.unwrap_or(Err(PingError::Timeout))),
        )
    }
}

impl PgStore {
    /// `SELECT 1` on a pooled connection, waiting for one no longer than the probe may last:
    /// a saturated pool answers `Busy` rather than queueing the probe behind every request.
    /// A pooled connection that died with a server restart is let go and the probe tried
    /// once more, so the first probe after a restart does not fail for a stale connection.
    async fn ping_once(&self) -> Result<(), PingError> {
        use deadpool::managed::{PoolError, TimeoutType, Timeouts};
        let timeouts = Timeouts {
            wait: Some(PING_TIMEOUT),
            create: Some(PING_TIMEOUT),
            recycle: Some(PING_TIMEOUT),
        };
        let mut tries = 0;
        loop {
            tries += 1;
            let conn = self
                .pool
                .timeout_get(&timeouts)
                .await
                .map_err(|e| match e {
                    PoolError::Timeout(TimeoutType::Wait) => PingError::Busy,
                    PoolError::Timeout(_) => PingError::Timeout,
                    other => PingError::Unreachable(other.to_string()),
                })?;
            match conn.client.simple_query("SELECT 1").await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_closed() && tries < 2 => {
                    drop(deadpool::managed::Object::take(conn));
                }
                Err(e) if e.is_closed() => return Err(PingError::Unreachable(e.to_string())),
                Err(e) => return Err(PingError::Failed(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_configs_are_refused_before_connecting() {
        let config = |url: &str, schema: Option<&str>| PgConfig {
            url: url.to_owned(),
            schema: schema.map(str::to_owned),
            pool_size: 1,
            ..Default::default()
        };
        let e = PgStore::connect(config("not a url ::", None))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Config);
        let e = PgStore::connect(config("postgres://x@127.0.0.1/db", Some("a-b")))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Config);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_connect_error() {
        let config = PgConfig {
            url: "postgres://x@127.0.0.1:1/db".into(),
            schema: None,
            pool_size: 1,
            ..Default::default()
        };
        let e = PgStore::connect(config).await.unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Connect);
        assert!(!e.to_string().contains("127.0.0.1:1"), "{e}");
    }
}
