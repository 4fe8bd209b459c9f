//! Counters an operator (and the fan-out tests) can read. They are the same counters the
//! engine's Prometheus metrics show (`chanbind_pushes_*_total`, see [`crate::metrics`]).

use prometheus_client::metrics::counter::Counter;

/// Live counters of one engine.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) pushes_encoded: Counter,
    pub(crate) pushes_delivered: Counter,
    pub(crate) pushes_refused: Counter,
    pub(crate) pushes_merged: Counter,
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
        self.pushes_encoded.inc();
    }

    pub(crate) fn delivered(&self, ok: bool) {
        let counter = if ok {
            &self.pushes_delivered
        } else {
            &self.pushes_refused
        };
        counter.inc();
    }

    pub(crate) fn delivered_many(&self, delivered: u64, refused: u64) {
        self.pushes_delivered.inc_by(delivered);
        self.pushes_refused.inc_by(refused);
    }

    /// Reads the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            pushes_encoded: self.pushes_encoded.get(),
            pushes_delivered: self.pushes_delivered.get(),
            pushes_refused: self.pushes_refused.get(),
        }
    }
}
