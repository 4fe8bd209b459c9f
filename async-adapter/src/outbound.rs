//! The engine's `Outbound` on the engine's [`OutboundQueue`] (bounded, merging superseded
//! pushes when full), with a tokio `Notify` to wake the connection's writer task.

use std::sync::Arc;

use chanbind_engine::outbound::{Offer, Outbound, OutboundQueue, SubKey};
use chanbind_engine::protocol::Frame;
use tokio::sync::Notify;

/// A connection's outbound queue, shared by whoever queues frames (the session, jobs, actors)
/// and the writer task that sends them. When a frame finds the queue full and supersedes
/// nothing in it, the connection is marked slow and its writer closes it with 4008; no actor
/// ever waits for it.
pub(crate) struct ChannelOutbound {
    queue: OutboundQueue,
    /// A frame was queued.
    ready: Notify,
    /// The queue refused a frame (the connection is too slow), or the engine asked for a
    /// close ([`Outbound::end`]).
    slowed: Notify,
}

impl ChannelOutbound {
    pub(crate) fn new(queue: OutboundQueue) -> Arc<Self> {
        Arc::new(ChannelOutbound {
            queue,
            ready: Notify::new(),
            slowed: Notify::new(),
        })
    }

    /// The next frame, waiting for one.
    pub(crate) async fn next(&self) -> Frame {
        loop {
            // The queue first: a frame queued before this call is never waited for.
            if let Some(frame) = self.queue.pop() {
                return frame;
            }
            // `notify_one` keeps a permit when no one waits, so a frame queued between the
            // `pop` above and this wait still wakes it.
            self.ready.notified().await;
        }
    }

    /// The next frame if one is queued.
    pub(crate) fn pop(&self) -> Option<Frame> {
        self.queue.pop()
    }

    /// Whether a frame was refused: the connection is too slow, and is not served any more.
    pub(crate) fn is_slow(&self) -> bool {
        self.queue.is_slow()
    }

    /// Waits until the connection is marked slow.
    pub(crate) async fn slowed(&self) {
        loop {
            let notified = self.slowed.notified();
            if self.queue.is_slow() {
                return;
            }
            notified.await;
        }
    }

    /// The close code the engine asked for ([`Outbound::end`]), if any.
    pub(crate) fn ending(&self) -> Option<u16> {
        self.queue.ending()
    }

    /// Waits until the engine asks for the connection to be closed, and gives the code.
    pub(crate) async fn ended(&self) -> u16 {
        loop {
            let notified = self.slowed.notified();
            if let Some(code) = self.queue.ending() {
                return code;
            }
            notified.await;
        }
    }

    /// The connection is gone: what waits is dropped and later frames are refused.
    pub(crate) fn close(&self) {
        self.queue.close();
    }

    fn accept(&self, offer: Offer) -> bool {
        match offer {
            Offer::Queued | Offer::Merged(_) => {
                self.ready.notify_one();
                true
            }
            Offer::Overflowed => {
                self.slowed.notify_waiters();
                false
            }
            Offer::Full | Offer::Closed => false,
        }
    }
}

impl Outbound for ChannelOutbound {
    fn send(&self, frame: Frame) -> bool {
        self.accept(self.queue.offer(frame, None))
    }

    fn push(&self, frame: Frame, key: &Arc<SubKey>) -> bool {
        self.accept(self.queue.offer(frame, Some(key)))
    }

    fn end(&self, code: u16) -> bool {
        let first = self.queue.end(code);
        // The reader waits on the same notification as for a slow consumer.
        self.slowed.notify_waiters();
        first
    }
}
