//! What a store tells the metrics about itself: its pool, and its database's notification
//! queue (see [`crate::metrics`]).

use std::future::Future;
use std::pin::Pin;

/// A store's connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Connections handed out.
    pub in_use: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// The future of [`Store::notification_queue_usage`](super::Store::notification_queue_usage):
/// the fraction used; `None` when the store has no such queue (it is not asked again).
pub type UsageFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<f64>, super::StoreError>> + Send + 'a>>;
