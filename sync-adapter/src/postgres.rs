//! The PostgreSQL store on the blocking `postgres` crate, with a small pool of connections and
//! per-connection prepared statements.
//!
//! It runs the statements [`chanbind_engine::sql`] builds, the same text as the async adapter's
//! store, so it answers every op exactly as the in-memory store does.
//!
//! ```no_run
//! # fn demo(registry: chanbind_engine::binding::Registry) -> Result<(), Box<dyn std::error::Error>> {
//! use chanbind_sync::postgres::{PgConfig, PgStore};
//!
//! let store = PgStore::connect(PgConfig {
//!     url: "postgres://postgres@127.0.0.1:5432/app".into(),
//!     schema: None,
//!     pool_size: 16,
//!     ..Default::default()
//! })?;
//! store.migrate(&registry)?;
//! # Ok(()) }
//! ```
//!
//! Every connection runs with `TimeZone=UTC` and `extra_float_digits=1`, whatever the server's
//! defaults, and with `search_path` set to the configured schema, if any.
//!
//! The store blocks the thread that polls its futures ([`Store::is_blocking`] is `true`): the
//! sync adapter polls them on connection threads, and the engine refreshes live queries on
//! tokio's blocking threads. The `postgres` crate cannot block a tokio worker as it is (it
//! panics, starting a runtime inside one), so the store and its methods put their work through
//! [`run_blocking`]: they may be called from async code too, and the store may serve the tokio
//! adapter (`chanbind_async`), at the cost of a blocked worker per call in flight there.

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
    self, drop_schema_sql, introspect, Plan, ResultRows, StatementCache, TableStreams,
    APPLICATION_NAME, CONNECT_TIMEOUT, MIGRATE_LOCK, WAIT_TIMEOUT,
};
use chanbind_engine::store::{
    run_blocking, PingError, PingFuture, SchemaError, SchemaFuture, Store, StoreFuture, StoreOp,
    PING_TIMEOUT,
};
use chanbind_engine::trace;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, Statement, Transaction};

use error::Failure;
use pool::{Conn, Pool};
use tracing::Instrument;

/// A [`Store`] on PostgreSQL, on the blocking `postgres` crate.
pub struct PgStore {
    pool: Pool,
    /// The connection settings, for the capture listener's own connection.
    pg: postgres::Config,
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
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Opens a pool and checks that one connection works. With a schema, creates it if it is
    /// missing.
    pub fn connect(config: PgConfig) -> Result<PgStore, PgError> {
        run_blocking(|| Self::connect_here(config))
    }

    fn connect_here(config: PgConfig) -> Result<PgStore, PgError> {
        let mut pg: postgres::Config = config.url.parse().map_err(|e| {
            PgError::with_source(PgErrorKind::Config, "the database URL is not valid", e)
        })?;
        config.check()?;
        let origin = sql::capture::new_origin();
        let options = config.session_options(pg.get_options(), &origin);
        pg.options(&options);
        if pg.get_application_name().is_none() {
            pg.application_name(APPLICATION_NAME);
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        let pool = Pool::new(
            pg.clone(),
            config.pool_size,
            config.statement_cache_capacity,
            WAIT_TIMEOUT,
        );
        // The first connection is made here, outside the pool's wait, so a bad address or
        // password fails now with the driver's reason.
        let mut client = pool
            .connect()
            .map_err(|e| PgError::with_source(PgErrorKind::Connect, "no connection", e))?;
        if let Some(statement) = config.create_schema_sql() {
            // The search path names the schema before it exists; PostgreSQL re-reads the path
            // once it does, so tables made afterwards land in it.
            client.batch_execute(&statement).map_err(|e| {
                PgError::with_source(PgErrorKind::Schema, "cannot create the schema", e)
            })?;
        }
        let conn = pool.conn(client);
        pool.give(conn);
        Ok(PgStore {
            pool,
            pg,
            origin,
            schema: config.schema,
            streams: TableStreams::default(),
        })
    }

    fn conn(&self) -> Result<pool::Pooled<'_>, PgError> {
        self.pool.get().map_err(|e| match e {
            Failure::Pool(Some(e)) | Failure::Db(e) => {
                PgError::with_source(PgErrorKind::Connect, "no connection", e)
            }
            Failure::Pool(None) => {
                PgError::new(PgErrorKind::Connect, "no connection: the pool stayed busy")
            }
        })
    }

    /// Creates every bound table that is missing ([`sql::create_tables`]), in one transaction
    /// under an advisory lock so concurrent servers do not race, then checks every bound
    /// table against its binding: a table that existed with another shape is an error
    /// ([`PgErrorKind::Mismatch`]) naming each `table.column`, never silently served. Running
    /// it again changes nothing. Also [`register`](Self::register)s the bindings.
    pub fn migrate(&self, registry: &Registry) -> Result<(), PgError> {
        run_blocking(|| self.migrate_here(registry))
    }

    fn migrate_here(&self, registry: &Registry) -> Result<(), PgError> {
        let schema_error = |e| PgError::with_source(PgErrorKind::Schema, "migration failed", e);
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction().map_err(schema_error)?;
        tx.batch_execute(MIGRATE_LOCK).map_err(schema_error)?;
        for statement in sql::create_tables(registry) {
            tx.batch_execute(&statement).map_err(schema_error)?;
        }
        tx.commit().map_err(schema_error)?;
        // The check takes a connection of its own: with a pool of one, this one must be back.
        drop(conn);
        self.register(registry);
        self.check_here(registry).map_err(PgError::from)
    }

    /// Checks every bound table against its binding ([`introspect::check_registry`]): the
    /// store's [`Store::check_schema`], which `Engine::start` runs.
    fn check_here(&self, registry: &Registry) -> Result<(), SchemaError> {
        let plan = Plan {
            statements: introspect::check_statements(registry),
            read_only: true,
        };
        let results = self
            .run(&plan)
            .map_err(|e| SchemaError::Unavailable(e.to_string()))?;
        introspect::check_registry(registry, results)
    }

    /// Binds an existing table as PostgreSQL describes it ([`introspect`]); `table` is
    /// `name` or `schema.name`, case kept ([`introspect::TableName`]). Its foreign keys stay
    /// plain typed fields: [`introspect_all`](Self::introspect_all) binds several tables with
    /// the relations among them.
    pub fn introspect(&self, table: &str) -> Result<ModelBinding, PgError> {
        let mut bindings = self.introspect_all(&[table])?;
        Ok(bindings.remove(0))
    }

    /// Binds existing tables as PostgreSQL describes them, in the order given, each foreign
    /// key between two of them as a foreign key field ([`introspect::bind_described`]). All
    /// are read in one snapshot.
    pub fn introspect_all(&self, tables: &[&str]) -> Result<Vec<ModelBinding>, PgError> {
        let names = introspect::parse_names(tables)?;
        let plan = Plan {
            statements: names.iter().map(introspect::describe).collect(),
            read_only: true,
        };
        let results = run_blocking(|| self.run(&plan)).map_err(|e| {
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
    pub fn install_capture(&self, registry: &Registry) -> Result<(), PgError> {
        self.run_schema(
            sql::capture::install_sql(registry),
            "cannot install capture",
        )
    }

    /// Removes the capture triggers and their function. Idempotent.
    pub fn remove_capture(&self, registry: &Registry) -> Result<(), PgError> {
        self.run_schema(sql::capture::remove_sql(registry), "cannot remove capture")
    }

    fn run_schema(&self, statements: Vec<String>, what: &'static str) -> Result<(), PgError> {
        run_blocking(|| self.run_schema_here(statements, what))
    }

    fn run_schema_here(&self, statements: Vec<String>, what: &'static str) -> Result<(), PgError> {
        let schema_error = |e| PgError::with_source(PgErrorKind::Schema, what, e);
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction().map_err(schema_error)?;
        tx.batch_execute(MIGRATE_LOCK).map_err(schema_error)?;
        for statement in statements {
            tx.batch_execute(&statement).map_err(schema_error)?;
        }
        tx.commit().map_err(schema_error)
    }

    /// Tells the store which stream each table serves, so a delete refused by another
    /// table's foreign key names that stream. [`migrate`](Self::migrate) does this itself.
    pub fn register(&self, registry: &Registry) {
        self.streams.register(registry);
    }

    /// Drops the configured schema and everything in it; for tests' cleanup. Refused when no
    /// schema is configured, so it never drops `public`.
    pub fn drop_schema(&self) -> Result<(), PgError> {
        let statement = drop_schema_sql(self.schema.as_deref())?;
        run_blocking(|| {
            self.conn()?
                .client
                .batch_execute(&statement)
                .map_err(|e| PgError::with_source(PgErrorKind::Schema, "cannot drop the schema", e))
        })
    }

    /// How many prepared statements the server holds for one of the pool's connections
    /// (`pg_prepared_statements` is per session): with a pool of one connection, that
    /// connection's. At most [`PgConfig::statement_cache_capacity`]; for tests and diagnostics.
    pub fn prepared_statements(&self) -> Result<u64, PgError> {
        let query_error =
            |e| PgError::with_source(PgErrorKind::Connect, "cannot count prepared statements", e);
        // A simple query prepares nothing, so it does not count itself.
        let messages = run_blocking(|| {
            self.conn()?
                .client
                .simple_query("SELECT count(*) FROM pg_prepared_statements")
                .map_err(query_error)
        })?;
        Ok(prepared_count(messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })))
    }

    /// Runs the plan's statements in one transaction and collects their text columns.
    ///
    /// A connection that sat idle through a server restart fails the transaction's `BEGIN`.
    /// Nothing ran, so the plan is run again on the next connection; each try drops one dead
    /// idle connection, and once none is left the pool makes a new one.
    fn run(&self, plan: &Plan) -> Result<Vec<ResultRows>, Failure> {
        loop {
            let mut conn = self.pool.get()?;
            let reused = conn.reused;
            let (client, statements) = conn.split();
            let e = match begin(client, plan.read_only) {
                Ok(tx) => return run_in(tx, statements, plan),
                Err(e) => e,
            };
            if !(reused && is_dead(&e, &conn.client)) {
                return Err(e.into());
            }
            tracing::debug!(error = %e, "a pooled connection died while idle; trying another");
            conn.discard();
        }
    }
}

/// Runs the plan's statements in `tx` and commits.
fn run_in(
    mut tx: Transaction<'_>,
    statements: &mut StatementCache<Statement>,
    plan: &Plan,
) -> Result<Vec<ResultRows>, Failure> {
    let mut results = Vec::with_capacity(plan.statements.len());
    for statement in &plan.statements {
        let prepared = Conn::prepared(statements, &mut tx, &statement.text)?;
        let params: Vec<&(dyn ToSql + Sync)> = statement
            .params
            .iter()
            .map(|p| p as &(dyn ToSql + Sync))
            .collect();
        let rows = tx.query(&prepared, &params)?;
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
    tx.commit()?;
    Ok(results)
}

/// The count a `SELECT count(*)` answered as text.
fn prepared_count(text: Option<&str>) -> u64 {
    text.and_then(|t| t.parse().ok()).unwrap_or_default()
}

/// Starts a plan's transaction: one snapshot for a read (a search's count and its rows).
fn begin(client: &mut Client, read_only: bool) -> Result<Transaction<'_>, postgres::Error> {
    if read_only {
        client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
    } else {
        client.transaction()
    }
}

/// Whether `e` says the connection itself is gone: lost, or ended by the server
/// ([`sql::is_connection_gone`]).
fn is_dead(e: &postgres::Error, client: &Client) -> bool {
    error::is_connection_loss(e)
        || client.is_closed()
        || e.code().is_some_and(|c| sql::is_connection_gone(c.code()))
}

impl Store for PgStore {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        // The work happens when the future is first polled, on the polling thread: a
        // connection thread, or one of tokio's blocking threads (see `is_blocking`); polled
        // on a tokio worker (the async adapter's requests), `run_blocking` lets it block.
        let span = trace::store_span(&op, self.kind(), false);
        Box::pin(
            async move {
                let plan = sql::plan(&op);
                match run_blocking(|| self.run(&plan)) {
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

    fn is_blocking(&self) -> bool {
        true
    }

    fn pool_status(&self) -> Option<chanbind_engine::store::PoolStatus> {
        Some(self.pool.status())
    }

    fn notification_queue_usage(&self) -> chanbind_engine::store::UsageFuture<'_> {
        Box::pin(async move {
            run_blocking(|| {
                let unavailable = |e: String| chanbind_engine::store::StoreError::Unavailable(e);
                let mut conn = self
                    .pool
                    .get()
                    .map_err(|_| unavailable("no connection".into()))?;
                let row = conn
                    .client
                    .query_one("SELECT pg_notification_queue_usage()", &[])
                    .map_err(|e| unavailable(e.to_string()))?;
                Ok(Some(row.get::<_, f64>(0)))
            })
        })
    }

    fn check_schema<'a>(&'a self, registry: &'a Registry) -> SchemaFuture<'a> {
        Box::pin(async move { run_blocking(|| self.check_here(registry)) })
    }

    fn begin(self: std::sync::Arc<Self>) -> chanbind_engine::store::BeginFuture {
        transaction::begin(self)
    }

    fn ping(&self) -> PingFuture<'_> {
        Box::pin(async move { run_blocking(|| self.ping_here()) })
    }
}

impl PgStore {
    /// `SELECT 1` on a pooled connection, waiting for one no longer than the probe may last:
    /// a saturated pool answers `Busy` rather than queueing the probe behind every request.
    /// A pooled connection that died with a server restart is let go and the probe tried
    /// once more on a new one, so the first probe after a restart does not fail for it.
    fn ping_here(&self) -> Result<(), PingError> {
        loop {
            let mut conn = self.pool.get_within(PING_TIMEOUT).map_err(|e| match e {
                Failure::Pool(None) => PingError::Busy,
                Failure::Pool(Some(e)) | Failure::Db(e) => PingError::Unreachable(e.to_string()),
            })?;
            match conn.client.simple_query("SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if is_dead(&e, &conn.client) => {
                    let reused = conn.reused;
                    conn.discard();
                    if !reused {
                        return Err(PingError::Unreachable(e.to_string()));
                    }
                }
                Err(e) => return Err(PingError::Failed(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_refused_before_connecting() {
        let config = |url: &str, schema: Option<&str>| PgConfig {
            url: url.to_owned(),
            schema: schema.map(str::to_owned),
            pool_size: 1,
            ..Default::default()
        };
        let e = PgStore::connect(config("not a url ::", None)).unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Config);
        let e = PgStore::connect(config("postgres://x@127.0.0.1/db", Some("a-b"))).unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Config);
    }

    #[test]
    fn an_unreachable_server_is_a_connect_error() {
        let config = PgConfig {
            url: "postgres://x@127.0.0.1:1/db".into(),
            schema: None,
            pool_size: 1,
            ..Default::default()
        };
        let e = PgStore::connect(config).unwrap_err();
        assert_eq!(e.kind(), PgErrorKind::Connect);
        assert!(!e.to_string().contains("127.0.0.1:1"), "{e}");
    }
}
