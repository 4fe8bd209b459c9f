//! Creates in flight, so that a change to a new row is never published before its creation.
//!
//! A create cannot hold its row's stripe: the id does not exist until the insert commits. So
//! between its commit and its publish, another connection may update (or delete) the new row
//! and publish first, and subscribers would end on the stale created row. Instead, every
//! create holds a ticket from before its statement until its change is published, and an
//! update or delete, once committed, waits for the tickets of its stream that were taken
//! before: any create whose row it could have touched committed before it, so took a ticket
//! before it. Creates never wait for anything here, so this cannot deadlock.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::watch;

/// The open tickets of every stream.
pub struct Creates {
    state: Mutex<State>,
    /// Bumped whenever a ticket closes, to wake the writers waiting on one.
    closed: watch::Sender<()>,
}

#[derive(Default)]
struct State {
    next: u64,
    open: HashMap<String, BTreeSet<u64>>,
}

impl Default for Creates {
    fn default() -> Self {
        Creates {
            state: Mutex::default(),
            closed: watch::Sender::new(()),
        }
    }
}

/// A create in flight on one stream; dropping it (once the change is published, or the create
/// failed or was abandoned) closes it.
pub struct CreateTicket<'a> {
    creates: &'a Creates,
    stream: String,
    id: u64,
}

impl Creates {
    /// Opens a ticket for a create on `stream`, before its statement runs.
    pub fn begin(&self, stream: &str) -> CreateTicket<'_> {
        let mut state = self.state();
        let id = state.next;
        state.next += 1;
        state.open.entry(stream.to_owned()).or_default().insert(id);
        CreateTicket {
            creates: self,
            stream: stream.to_owned(),
            id,
        }
    }

    /// Waits until every create on `stream` that was in flight when this was called has
    /// published its change. A committed update or delete calls it before publishing.
    pub async fn settle(&self, stream: &str) {
        let mut closed = self.closed.subscribe();
        let horizon = self.state().next;
        loop {
            let pending = self
                .state()
                .open
                .get(stream)
                .and_then(|open| open.first())
                .is_some_and(|&first| first < horizon);
            if !pending || closed.changed().await.is_err() {
                return;
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for CreateTicket<'_> {
    fn drop(&mut self) {
        let mut state = self.creates.state();
        if let Some(open) = state.open.get_mut(&self.stream) {
            open.remove(&self.id);
            if open.is_empty() {
                state.open.remove(&self.stream);
            }
        }
        drop(state);
        self.creates.closed.send_modify(|_| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn settle_waits_for_earlier_creates_of_the_stream_only() {
        let creates = Creates::default();
        let earlier = creates.begin("a");
        let other = creates.begin("b");
        let waiting = creates.settle("a");
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut waiting)
                .await
                .is_err(),
            "an earlier create on the stream is still in flight"
        );
        let later = creates.begin("a");
        drop(earlier);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("settled once the earlier create closed, not waiting for later or other ones");
        drop((other, later));
        creates.settle("a").await;
    }
}
