//! The tokio store's pool: deadpool-postgres's connections, each with its own bounded cache of
//! prepared statements.
//!
//! deadpool-postgres keeps every statement it prepares with `prepare_cached` for the life of
//! the connection, so each new op shape (a filter key set, an order) grows the server's
//! backend for good. Its manager is wrapped here so that each pooled connection carries a
//! [`StatementCache`], the policy both stores share, instead.

use chanbind_engine::sql::StatementCache;
use deadpool::managed::{self, Metrics, RecycleResult};
use tokio_postgres::Statement;

/// The pool of [`Conn`]s.
pub(crate) type Pool = managed::Pool<Manager>;

/// Makes and recycles connections with deadpool-postgres's manager, and gives each its cache.
pub(crate) struct Manager {
    inner: deadpool_postgres::Manager,
    /// How many statements each connection keeps prepared.
    statements: usize,
}

impl Manager {
    /// Wraps `inner`; each connection keeps at most `statements` prepared statements.
    pub(crate) fn new(inner: deadpool_postgres::Manager, statements: usize) -> Self {
        Manager { inner, statements }
    }
}

/// One pooled connection and its statement cache.
pub(crate) struct Conn {
    pub(crate) client: deadpool_postgres::ClientWrapper,
    pub(crate) statements: StatementCache<Statement>,
}

impl managed::Manager for Manager {
    type Type = Conn;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<Conn, tokio_postgres::Error> {
        let client = managed::Manager::create(&self.inner).await?;
        Ok(Conn {
            client,
            statements: StatementCache::new(self.statements),
        })
    }

    async fn recycle(
        &self,
        conn: &mut Conn,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        managed::Manager::recycle(&self.inner, &mut conn.client, metrics).await
    }

    fn detach(&self, conn: &mut Conn) {
        managed::Manager::detach(&self.inner, &mut conn.client);
    }
}

/// The statement prepared for `text` on the transaction's connection, prepared now if the
/// cache does not hold it. Prepared statements outlive transactions.
///
/// The statements the cache lets go are dropped here: dropping a statement's last handle
/// sends its `Close` on the connection, so the server frees it (the plan and all) without a
/// `DEALLOCATE` round trip.
pub(crate) async fn prepared(
    statements: &mut StatementCache<Statement>,
    tx: &tokio_postgres::Transaction<'_>,
    text: &str,
) -> Result<Statement, tokio_postgres::Error> {
    if let Some(statement) = statements.get(text) {
        return Ok(statement);
    }
    let statement = tx.prepare(text).await?;
    drop(statements.insert(text.to_owned(), statement.clone()));
    Ok(statement)
}
