//! The store's health probe ([`Store::ping`](super::Store::ping)), which `/readyz` runs
//! (docs/protocol.md section 6, "Health").

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long one probe may take, the wait for a pooled connection included: a store's
/// [`ping`](super::Store::ping) bounds itself by it, and the engine stops waiting after it
/// whatever the store does. Short, so that a load balancer learns of a dead database within a
/// second; long enough for one round trip to a loaded server.
pub const PING_TIMEOUT: Duration = Duration::from_millis(500);

/// A boxed future of a store's health probe.
pub type PingFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PingError>> + Send + 'a>>;

/// Why a store did not answer its health probe. The text is for the log; a client sees only
/// [`reason`](Self::reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// No connection to the database could be made, or the one tried broke.
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    /// Every connection of the pool stayed busy for the probe's whole wait.
    #[error("every pooled connection stayed busy")]
    Busy,
    /// The database did not answer within [`PING_TIMEOUT`].
    #[error("the database did not answer in time")]
    Timeout,
    /// The database answered with an error.
    #[error("the database refused the probe: {0}")]
    Failed(String),
}

impl PingError {
    /// The short reason `/readyz` names: `unreachable`, `busy`, `timeout` or `failed`.
    pub fn reason(&self) -> &'static str {
        match self {
            PingError::Unreachable(_) => "unreachable",
            PingError::Busy => "busy",
            PingError::Timeout => "timeout",
            PingError::Failed(_) => "failed",
        }
    }
}
