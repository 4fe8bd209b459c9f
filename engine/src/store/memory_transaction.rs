//! The in-memory store's transactions: the open transaction holds the store's gate for
//! writing, so every other op waits until it ends, and notes what each of its ops changed,
//! so that a rollback puts every row back.

use std::sync::Arc;

use tokio::sync::{OwnedRwLockWriteGuard, RwLock};

use super::memory::{MemoryStore, Undo};
use super::{BeginFuture, EndFuture, StoreFuture, StoreOp, Transaction};

/// An open transaction of a [`MemoryStore`].
struct MemoryTransaction {
    store: MemoryStore,
    journal: Vec<Undo>,
    /// Released when the transaction ends, after its rows are final.
    _gate: OwnedRwLockWriteGuard<()>,
}

/// Opens a transaction once every op in flight has ended.
pub(super) fn begin(store: MemoryStore) -> BeginFuture {
    let gate: Arc<RwLock<()>> = store.gate();
    Box::pin(async move {
        let guard = gate.write_owned().await;
        Ok(Box::new(MemoryTransaction {
            store,
            journal: Vec::new(),
            _gate: guard,
        }) as Box<dyn Transaction>)
    })
}

impl Transaction for MemoryTransaction {
    fn execute(&mut self, op: StoreOp) -> StoreFuture<'_> {
        let span = crate::trace::store_span(&op, "memory", true);
        let result = span.in_scope(|| self.store.execute_journaled(op, &mut self.journal));
        Box::pin(async move { result })
    }

    fn commit(mut self: Box<Self>) -> EndFuture {
        self.journal.clear();
        Box::pin(async { Ok(()) })
    }

    fn rollback(self: Box<Self>) -> EndFuture {
        drop(self);
        Box::pin(async { Ok(()) })
    }
}

impl Drop for MemoryTransaction {
    fn drop(&mut self) {
        let journal = std::mem::take(&mut self.journal);
        if !journal.is_empty() {
            self.store.undo(journal);
        }
    }
}
