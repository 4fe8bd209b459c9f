//! Whether a stream has subscribers on this node, readable without asking its actor: a node
//! need not read the rows another node or program changed when no one here watches them.
//!
//! It must never say "no one" while a subscriber could miss a change. A subscription is
//! announced ([`Interest::announce`]) before its message is sent to the actor, and so before
//! its snapshot is read; the actor then records whether it holds any subscription
//! ([`Interest::settle`]) and only after that retires the announcement. A reader looks at the
//! announcements first, so it sees one or the other.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

/// A stream's interest on this node.
#[derive(Debug, Default)]
pub struct Interest {
    /// Subscriptions sent to the actor and not handled yet.
    pending: AtomicUsize,
    /// Whether the actor holds any subscription.
    held: AtomicBool,
}

impl Interest {
    /// Before a subscription is sent to the actor.
    pub fn announce(&self) {
        self.pending.fetch_add(1, SeqCst);
    }

    /// The actor, after each message: whether it now `holds` any subscription, and whether the
    /// message was an announced subscription.
    pub fn settle(&self, holds: bool, announced: bool) {
        self.held.store(holds, SeqCst);
        if announced {
            self.pending.fetch_sub(1, SeqCst);
        }
    }

    /// Whether anyone here watches the stream, or is about to.
    pub fn is_watched(&self) -> bool {
        // Announcements first: `settle` records `held` before it retires one.
        self.pending.load(SeqCst) > 0 || self.held.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_from_announcement_until_the_last_subscription_goes() {
        let interest = Interest::default();
        assert!(!interest.is_watched());
        interest.announce();
        assert!(interest.is_watched(), "announced, not yet handled");
        interest.settle(true, true);
        assert!(interest.is_watched(), "held");
        interest.settle(true, false);
        assert!(interest.is_watched());
        interest.announce();
        interest.settle(false, false);
        assert!(
            interest.is_watched(),
            "the old one went, a new one is on its way"
        );
        interest.settle(true, true);
        interest.settle(false, false);
        assert!(!interest.is_watched());
    }
}
