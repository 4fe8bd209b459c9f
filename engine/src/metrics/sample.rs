//! Sampling the database's notification queue every few seconds, off the request path: a
//! full queue makes PostgreSQL refuse the commits that notify, so an operator wants to see it
//! filling long before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::store::Store;

/// How often the queue is sampled.
pub(crate) const EVERY: Duration = Duration::from_secs(5);
/// How long one sample may take; one that takes longer is skipped.
const TIMEOUT: Duration = Duration::from_secs(1);

/// The last sample, as `f64` bits; `u64::MAX` until there is one.
#[derive(Debug)]
pub(crate) struct Sampled(AtomicU64);

impl Default for Sampled {
    fn default() -> Self {
        Sampled(AtomicU64::new(u64::MAX))
    }
}

impl Sampled {
    pub(crate) fn usage(&self) -> Option<f64> {
        match self.0.load(Ordering::Relaxed) {
            u64::MAX => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    fn set(&self, usage: f64) {
        self.0.store(usage.to_bits(), Ordering::Relaxed);
    }
}

/// Samples `store` now and every [`EVERY`] on the current tokio runtime, while `sampled` is
/// alive (its engine is); stops at once for a store that has no notification queue.
pub(crate) fn spawn_sampler(store: Arc<dyn Store>, sampled: &Arc<Sampled>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // Weak, both: the task must keep neither the store (its pool's connections) nor the
    // metrics alive once the engine is gone.
    let sampled: Weak<Sampled> = Arc::downgrade(sampled);
    let store: Weak<dyn Store> = Arc::downgrade(&store);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let (Some(sampled), Some(store)) = (sampled.upgrade(), store.upgrade()) else {
                return;
            };
            let usage = if store.is_blocking() {
                let store = Arc::clone(&store);
                let read = tokio::task::spawn_blocking(move || {
                    futures_executor::block_on(store.notification_queue_usage())
                });
                tokio::time::timeout(TIMEOUT, read).await.map(|r| {
                    r.unwrap_or_else(|e| Err(crate::store::StoreError::Internal(e.to_string())))
                })
            } else {
                tokio::time::timeout(TIMEOUT, store.notification_queue_usage()).await
            };
            match usage {
                Ok(Ok(Some(usage))) => sampled.set(usage),
                // A store that has no queue never will.
                Ok(Ok(None)) => return,
                Ok(Err(e)) => tracing::debug!(error = %e, "cannot sample the notification queue"),
                Err(_) => tracing::debug!("the notification queue's sample took too long"),
            }
        }
    });
}
