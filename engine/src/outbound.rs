//! The one small non-blocking trait through which actors and jobs reach a connection, and the
//! bounded queue both adapters implement it on.

mod held;
mod queue;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::auth::User;
use crate::key::Key;
use crate::protocol::Frame;

pub use held::HeldBytes;
pub use queue::{Offer, OutboundQueue, QueueMetrics};

/// A connection's outbound queue, implemented by each adapter on an [`OutboundQueue`] and its
/// own way of waking the connection's writer. `send` never blocks: a full queue that cannot
/// merge means a slow consumer, which the adapter closes with 4008.
pub trait Outbound: Send + Sync + 'static {
    /// Queues a frame. Returns `false` when the connection is gone or was just closed for
    /// falling behind, so callers can drop their references to it.
    fn send(&self, frame: Frame) -> bool;

    /// Queues a push of the subscription `key`, which supersedes its earlier pushes: a queue
    /// that is full may drop those for this one ([`OutboundQueue`]) rather than refuse it.
    /// Returns what [`send`](Self::send) does; without merging, it is `send`.
    fn push(&self, frame: Frame, key: &Arc<SubKey>) -> bool {
        let _ = key;
        self.send(frame)
    }

    /// Asks the connection's adapter to close the WebSocket with `code` once what is queued
    /// has gone out (4001 when its credential expired, 4003 when the application
    /// disconnected its user; docs/protocol.md section 7), and wakes it to do so. Returns
    /// whether this was the first close asked for. An outbound with no socket behind it (an
    /// HTTP request's) has nothing to close: the default does nothing.
    fn end(&self, code: u16) -> bool {
        let _ = code;
        false
    }
}

/// A connection's identity within one engine.
pub type ConnId = u64;

/// Identifies one subscription of one connection: the stream, the event that created it (hash
/// included) and, for `retrieve`, the row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubKey {
    /// The stream.
    pub stream: String,
    /// The full event text that created the subscription (`auth.User.retrieve#a`).
    pub event: String,
    /// The row, for `retrieve` subscriptions.
    pub pk: Option<Key>,
}

/// What actors hold of a connection: where to send, who it is, and its subscription set
/// (shared with the session so `max_subscriptions` counts what actors still hold).
#[derive(Clone)]
pub struct ConnHandle {
    /// The connection's id.
    pub id: ConnId,
    /// Its outbound queue.
    pub out: Arc<dyn Outbound>,
    /// Its user.
    pub user: Option<Arc<User>>,
    /// Its live subscriptions.
    pub subs: Arc<Mutex<HashSet<SubKey>>>,
    /// What its live results hold, against `max_subscription_bytes`.
    pub held: Arc<HeldBytes>,
    /// The live queries among them, against `max_live_queries` and its per-user twin.
    pub live: Arc<crate::live::LiveSlots>,
    /// The connection's turn: a job runs while holding it, so the connection's requests run
    /// one at a time with the re-checks the application starts from elsewhere.
    pub(crate) gate: Arc<tokio::sync::Mutex<()>>,
    /// The error its running request's reply carried, for the request metrics.
    pub(crate) outcome: Arc<crate::metrics::Outcome>,
}

impl std::fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnHandle")
            .field("id", &self.id)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl ConnHandle {
    /// Forgets a subscription (the actor dropped it).
    pub fn forget(&self, key: &SubKey) {
        self.subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.live.release(key);
    }
}
