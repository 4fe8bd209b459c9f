//! Counters an operator (and the fan-out tests) can read.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one engine.
#[derive(Debug, Default)]
pub struct Stats {
    pushes_encoded: AtomicU64,
    pushes_delivered: AtomicU64,
    pushes_refused: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Push payloads serialized to JSON: one per distinct event per change.
    pub pushes_encoded: u64,
    /// Push frames queued on connections.
    pub pushes_delivered: u64,
    /// Push frames a connection's queue refused (it was gone or too slow).
    pub pushes_refused: u64,
}

impl Stats {
    pub(crate) fn encoded(&self) {
        self.pushes_encoded.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn delivered(&self, ok: bool) {
        let counter = if ok {
            &self.pushes_delivered
        } else {
            &self.pushes_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn delivered_many(&self, delivered: u64, refused: u64) {
        self.pushes_delivered
            .fetch_add(delivered, Ordering::Relaxed);
        self.pushes_refused.fetch_add(refused, Ordering::Relaxed);
    }

    /// Reads the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            pushes_encoded: self.pushes_encoded.load(Ordering::Relaxed),
            pushes_delivered: self.pushes_delivered.load(Ordering::Relaxed),
            pushes_refused: self.pushes_refused.load(Ordering::Relaxed),
        }
    }
}
