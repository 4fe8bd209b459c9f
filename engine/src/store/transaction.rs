//! Several ops in one store transaction: what a batch (docs/protocol.md section 2, "Batches")
//! runs its steps in, so that all of them apply or none does.
//!
//! A transaction is interactive: the engine runs one op, looks at its answer (a later step
//! may refer to an earlier step's row), runs the binding's hooks, and only then builds the
//! next op. Nothing it writes is visible to anyone else until [`Transaction::commit`]; dropping
//! it uncommitted, or [`Transaction::rollback`], undoes every op.

use std::future::Future;
use std::pin::Pin;

use super::{StoreError, StoreFuture, StoreOp};

/// A boxed future of a store's commit or rollback.
pub type EndFuture = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// A boxed future of a new transaction.
pub type BeginFuture =
    Pin<Box<dyn Future<Output = Result<Box<dyn Transaction>, StoreError>> + Send>>;

/// An open store transaction ([`Store::begin`](super::Store::begin)). It owns what it needs
/// (a connection, a lock), so it may outlive the call that opened it.
pub trait Transaction: Send + 'static {
    /// Performs one op inside the transaction: it sees the transaction's earlier writes. An
    /// error leaves the transaction fit only to be rolled back.
    fn execute(&mut self, op: StoreOp) -> StoreFuture<'_>;

    /// Makes every op's writes visible at once.
    fn commit(self: Box<Self>) -> EndFuture;

    /// Undoes every op's writes. Dropping the transaction does too, less politely: a
    /// database connection may be closed rather than reused.
    fn rollback(self: Box<Self>) -> EndFuture;
}

/// The error of a store that has no transactions ([`Store::begin`](super::Store::begin)'s
/// default).
pub(crate) fn unsupported() -> BeginFuture {
    Box::pin(async {
        Err(StoreError::Internal(
            "this store does not support transactions".into(),
        ))
    })
}
