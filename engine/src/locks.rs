//! Striped per-row locks that keep pushes in commit order.
//!
//! A write holds its row's stripe from before the statement until its change is in the stream
//! actor's mailbox; a subscribing read holds it from registering the subscription until its
//! reply is queued. So, per row, the mailbox sees changes in commit order, and every change is
//! either visible to a snapshot or pushed after it: the no-gap rule of docs/protocol.md section 3.

mod creates;
mod held;

pub use creates::Creates;

use crate::key::Key;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 256;

/// A fixed set of async mutexes indexed by a hash of (stream, pk). `tokio::sync::Mutex` works
/// with any executor, and its `blocking_lock` serves blocking threads.
pub struct RowLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for RowLocks {
    fn default() -> Self {
        RowLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl RowLocks {
    /// Waits for the stripe of `(stream, pk)`.
    pub async fn lock(&self, stream: &str, pk: &Key) -> MutexGuard<'_, ()> {
        self.stripes[stripe(stream, pk)].lock().await
    }
}

fn stripe(stream: &str, pk: &Key) -> usize {
    let mut h = DefaultHasher::new();
    stream.hash(&mut h);
    pk.hash(&mut h);
    (h.finish() % STRIPES as u64) as usize
}
