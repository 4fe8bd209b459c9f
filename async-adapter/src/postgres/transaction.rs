//! The store's transactions ([`Transaction`]): one pooled connection inside `BEGIN` for the
//! whole batch, each op's statements run on it as [`chanbind_engine::sql::plan`] builds them,
//! so a batch runs exactly the SQL its single writes would.
//!
//! A transaction dropped before it ends (its request was abandoned) closes its connection
//! instead of giving it back, so the server rolls it back and no later op can run inside it.

use std::sync::Arc;

use chanbind_engine::sql::{self, ResultRows};
use chanbind_engine::store::{
    BeginFuture, EndFuture, StoreError, StoreFuture, StoreOp, Transaction,
};
use chanbind_engine::trace;
use tokio_postgres::types::ToSql;

use super::error::{self, Failure};
use super::pool::Manager;
use super::PgStore;
use tracing::Instrument;

type Object = deadpool::managed::Object<Manager>;

/// An open transaction of a [`PgStore`].
struct PgTransaction {
    store: Arc<PgStore>,
    /// `None` once ended.
    conn: Option<Object>,
}

/// Takes a connection and starts a transaction on it.
pub(super) fn begin(store: Arc<PgStore>) -> BeginFuture {
    Box::pin(async move {
        let conn = store
            .pool
            .get()
            .await
            .map_err(|e| end_error(&Failure::Pool(e)))?;
        let mut tx = PgTransaction {
            store,
            conn: Some(conn),
        };
        tx.simple("BEGIN").await?;
        Ok(Box::new(tx) as Box<dyn Transaction>)
    })
}

impl PgTransaction {
    async fn simple(&mut self, statement: &str) -> Result<(), StoreError> {
        let conn = self.conn.as_mut().ok_or_else(ended)?;
        conn.client
            .batch_execute(statement)
            .await
            .map_err(|e| end_error(&Failure::Db(e)))
    }

    async fn run(&mut self, plan: &sql::Plan) -> Result<Vec<ResultRows>, Failure> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Vec::new());
        };
        let super::pool::Conn { client, statements } = &mut **conn;
        let mut results = Vec::with_capacity(plan.statements.len());
        for statement in &plan.statements {
            let prepared = match statements.get(&statement.text) {
                Some(prepared) => prepared,
                None => {
                    let prepared = client.prepare(&statement.text).await?;
                    drop(statements.insert(statement.text.clone(), prepared.clone()));
                    prepared
                }
            };
            let params: Vec<&(dyn ToSql + Sync)> = statement
                .params
                .iter()
                .map(|p| p as &(dyn ToSql + Sync))
                .collect();
            let rows = client.query(&prepared, &params).await?;
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
        Ok(results)
    }

    /// Gives the connection back to the pool: the transaction ended cleanly.
    fn release(&mut self) {
        drop(self.conn.take());
    }
}

impl Transaction for PgTransaction {
    fn execute(&mut self, op: StoreOp) -> StoreFuture<'_> {
        let span = trace::store_span(&op, "postgres", true);
        Box::pin(
            async move {
                if self.conn.is_none() {
                    return Err(ended());
                }
                let plan = sql::plan(&op);
                match self.run(&plan).await {
                    Ok(results) => sql::decode(&op, results),
                    Err(failure) => {
                        let streams = self.store.streams.snapshot();
                        Err(error::classify(&op, &failure, |table| {
                            streams.get(table).cloned()
                        }))
                    }
                }
            }
            .instrument(span),
        )
    }

    fn commit(mut self: Box<Self>) -> EndFuture {
        Box::pin(async move {
            self.simple("COMMIT").await?;
            self.release();
            Ok(())
        })
    }

    fn rollback(mut self: Box<Self>) -> EndFuture {
        Box::pin(async move {
            self.simple("ROLLBACK").await?;
            self.release();
            Ok(())
        })
    }
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Out of the pool for good: closing it ends the transaction on the server.
            drop(Object::take(conn));
        }
    }
}

fn ended() -> StoreError {
    StoreError::Internal("the transaction has ended".into())
}

/// The error of a failed `BEGIN`, `COMMIT` or `ROLLBACK`.
fn end_error(failure: &Failure) -> StoreError {
    match failure {
        Failure::Pool(_) => StoreError::Unavailable(failure.to_string()),
        Failure::Db(e) if error::is_connection_loss(e) => StoreError::Unavailable(e.to_string()),
        Failure::Db(e) => StoreError::Internal(e.to_string()),
    }
}
