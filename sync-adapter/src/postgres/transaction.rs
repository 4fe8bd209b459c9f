//! The store's transactions ([`Transaction`]): one pooled connection inside `BEGIN` for the
//! whole batch, each op's statements run on it as [`chanbind_engine::sql::plan`] builds them,
//! so a batch runs exactly the SQL its single writes would. Each call blocks through
//! [`run_blocking`], as the store's own ops do.
//!
//! A transaction dropped before it ends (its request was abandoned) is rolled back there.

use std::sync::Arc;

use chanbind_engine::sql::{self, ResultRows};
use chanbind_engine::store::{
    run_blocking, BeginFuture, EndFuture, StoreError, StoreFuture, StoreOp, Transaction,
};
use chanbind_engine::trace;
use postgres::types::ToSql;

use super::error::{self, Failure};
use super::pool::Conn;
use super::PgStore;
use tracing::Instrument;

/// An open transaction of a [`PgStore`].
struct PgTransaction {
    store: Arc<PgStore>,
    /// Lent by the pool; `None` once ended.
    conn: Option<Conn>,
}

/// Takes a connection and starts a transaction on it. A pooled connection that died while
/// idle fails its `BEGIN`; nothing ran, so the next one is tried.
pub(super) fn begin(store: Arc<PgStore>) -> BeginFuture {
    Box::pin(async move {
        let conn = run_blocking(|| loop {
            let mut pooled = store.pool.get()?;
            match pooled.client.batch_execute("BEGIN") {
                Ok(()) => return Ok(pooled.lend()),
                Err(e) if pooled.reused && super::is_dead(&e, &pooled.client) => {
                    pooled.discard();
                }
                Err(e) => return Err(Failure::Db(e)),
            }
        })
        .map_err(|e| end_error(&e))?;
        Ok(Box::new(PgTransaction {
            store,
            conn: Some(conn),
        }) as Box<dyn Transaction>)
    })
}

impl PgTransaction {
    fn run(&mut self, plan: &sql::Plan) -> Result<Vec<ResultRows>, Failure> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Vec::new());
        };
        let (client, statements) = conn.split();
        let mut results = Vec::with_capacity(plan.statements.len());
        for statement in &plan.statements {
            let prepared = match statements.get(&statement.text) {
                Some(prepared) => prepared,
                None => {
                    let prepared = client.prepare(&statement.text)?;
                    drop(statements.insert(statement.text.clone(), prepared.clone()));
                    prepared
                }
            };
            let params: Vec<&(dyn ToSql + Sync)> = statement
                .params
                .iter()
                .map(|p| p as &(dyn ToSql + Sync))
                .collect();
            let rows = client.query(&prepared, &params)?;
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

    /// Ends the transaction with `statement` and gives the connection back (or closes it, if
    /// the statement failed).
    fn end(&mut self, statement: &str) -> Result<(), StoreError> {
        let Some(mut conn) = self.conn.take() else {
            return Err(ended());
        };
        run_blocking(|| {
            let result = conn.client.batch_execute(statement);
            let fit = result.is_ok();
            // A connection whose transaction may still be open is closed here, where it may
            // block, rather than given back.
            self.store.pool.put_back(fit.then_some(conn));
            result.map_err(|e| end_error(&Failure::Db(e)))
        })
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
                match run_blocking(|| self.run(&plan)) {
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
        let result = self.end("COMMIT");
        Box::pin(async move { result })
    }

    fn rollback(mut self: Box<Self>) -> EndFuture {
        let result = self.end("ROLLBACK");
        Box::pin(async move { result })
    }
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        if self.conn.is_some() {
            if let Err(error) = self.end("ROLLBACK") {
                tracing::warn!(%error, "an abandoned transaction's rollback failed");
            }
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
