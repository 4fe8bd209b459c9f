//! The stripes one batch holds (docs/protocol.md section 2, "Batches"): the rows it names by
//! key are locked before it starts, in stripe order, so two batches never wait on each other
//! in a circle; a row it learns of only while it runs (a key given by a `$ref`) is taken
//! only if its stripe is free, since waiting then could close such a circle.

use std::collections::BTreeMap;

use tokio::sync::MutexGuard;

use super::{stripe, RowLocks};
use crate::key::Key;

/// Stripes held together, each once.
pub struct HeldStripes<'a> {
    locks: &'a RowLocks,
    held: BTreeMap<usize, MutexGuard<'a, ()>>,
}

impl std::fmt::Debug for HeldStripes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldStripes")
            .field("held", &self.held.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RowLocks {
    /// Waits for the stripes of every row of `rows`, in stripe order.
    pub async fn lock_all<'r>(
        &self,
        rows: impl IntoIterator<Item = (&'r str, &'r Key)>,
    ) -> HeldStripes<'_> {
        let mut wanted: Vec<usize> = rows.into_iter().map(|(s, pk)| stripe(s, pk)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut held = BTreeMap::new();
        for i in wanted {
            held.insert(i, self.stripes[i].lock().await);
        }
        HeldStripes { locks: self, held }
    }
}

impl HeldStripes<'_> {
    /// Holds the stripe of `(stream, pk)` too, if it is held already or free now; `false`
    /// when another writer holds it.
    pub fn try_add(&mut self, stream: &str, pk: &Key) -> bool {
        let i = stripe(stream, pk);
        if self.held.contains_key(&i) {
            return true;
        }
        match self.locks.stripes[i].try_lock() {
            Ok(guard) => {
                self.held.insert(i, guard);
                true
            }
            Err(_) => false,
        }
    }
}
