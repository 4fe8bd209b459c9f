//! The engine's `Outbound` on the engine's [`OutboundQueue`] (bounded, merging superseded
//! pushes when full) plus the connection's mio `Waker`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chanbind_engine::outbound::{Offer, Outbound, OutboundQueue, SubKey};
use chanbind_engine::protocol::Frame;
use mio::Waker;

/// A connection's outbound queue. Actors and jobs queue on it from any thread; it never
/// blocks. When a frame finds the queue full and supersedes nothing in it, the connection is
/// marked slow and its thread closes it with 4008.
pub(crate) struct ChannelOutbound {
    queue: OutboundQueue,
    waker: Arc<Waker>,
    /// Set while the connection thread is awake and will drain the queue before it sleeps
    /// again, so a burst of pushes (or the thread's own replies) costs one wake-up at most.
    awake: AtomicBool,
}

impl ChannelOutbound {
    /// `queue`, whose sends wake `waker`.
    pub(crate) fn new(queue: OutboundQueue, waker: Arc<Waker>) -> Arc<Self> {
        Arc::new(ChannelOutbound {
            queue,
            waker,
            awake: AtomicBool::new(true),
        })
    }

    /// The next queued frame, for the connection thread.
    pub(crate) fn pop(&self) -> Option<Frame> {
        self.queue.pop()
    }

    /// The connection is gone: what waits is dropped and later frames are refused.
    pub(crate) fn close(&self) {
        self.queue.close();
    }

    /// The close code the engine asked for ([`Outbound::end`]), if any.
    pub(crate) fn ending(&self) -> Option<u16> {
        self.queue.ending()
    }

    /// Whether a send found the queue full.
    pub(crate) fn is_slow(&self) -> bool {
        self.queue.is_slow()
    }

    /// The connection thread is about to drain the queue and then sleep: from now on a send
    /// must wake it.
    pub(crate) fn going_to_sleep(&self) {
        self.awake.store(false, Ordering::SeqCst);
    }

    /// The connection thread woke up; it drains the queue before sleeping again.
    pub(crate) fn woke_up(&self) {
        self.awake.store(true, Ordering::SeqCst);
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            tracing::warn!(error = %e, "cannot wake a connection thread");
        }
    }
}

impl ChannelOutbound {
    fn accept(&self, offer: Offer) -> bool {
        match offer {
            Offer::Queued | Offer::Merged(_) => {
                // The queue is filled before the flag is read, so either the thread sees the
                // frame in the drain it does after `going_to_sleep`, or this send wakes it.
                if !self.awake.swap(true, Ordering::SeqCst) {
                    self.wake();
                }
                true
            }
            Offer::Overflowed => {
                self.wake();
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
        // Whether asleep or not, the thread looks at the close before it sleeps again.
        self.wake();
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    fn frame(s: &str) -> Frame {
        Frame::from(s.to_owned())
    }

    #[test]
    fn a_full_queue_marks_the_connection_slow_and_wakes_it() {
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let out = ChannelOutbound::new(OutboundQueue::new(2, usize::MAX), waker);
        out.going_to_sleep();
        assert!(out.send(frame("1")));
        assert!(out.send(frame("2")));
        assert!(!out.is_slow());
        assert!(!out.send(frame("3")));
        assert!(out.is_slow());
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
        assert!(!events.is_empty(), "the thread was woken");
        assert_eq!(std::iter::from_fn(|| out.pop()).count(), 2);
        out.close();
        assert!(!out.send(frame("4")), "a closed connection refuses");
    }

    #[test]
    fn an_awake_thread_is_not_woken_again() {
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
        let out = ChannelOutbound::new(OutboundQueue::new(8, usize::MAX), waker);
        assert!(out.send(frame("reply")));
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert!(events.is_empty(), "no wake-up while awake");
        out.going_to_sleep();
        assert!(out.send(frame("push")));
        poll.poll(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
        assert!(!events.is_empty(), "a push wakes a sleeping thread");
    }
}
