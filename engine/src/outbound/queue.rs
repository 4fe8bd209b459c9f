//! A connection's bounded outbound queue, the same for both adapters (the last step of a push, from
//! actor to socket): frames leave in the order they were queued, and when the queue is full a push
//! that supersedes pushes still waiting for the same subscription (a watched row's newer state, a
//! live query's newer page) replaces them, at the back, as if they had never been queued. Only when
//! nothing can be merged is the connection too slow: the push is refused, and the adapter closes
//! the connection with 4008.
//!
//! The queue is bounded twice: by frames and by bytes, so a client that stops reading pins at
//! most `outbound_queue_bytes` of memory however large the frames it is sent.
//!
//! Merging only when full keeps every intermediate state for a client that keeps up. Replacing
//! at the back, not in place, keeps a newer push behind anything queued before it, such as the
//! reply that started the subscription.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::SubKey;
use crate::config::Limits;
use crate::protocol::Frame;

/// What became of a frame offered to an [`OutboundQueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Queued at the back.
    Queued,
    /// The queue was full; the frame replaced the `n` pushes it supersedes.
    Merged(usize),
    /// The queue is full and nothing in it is superseded: the connection is too slow, and
    /// just became so (the adapter closes it with 4008).
    Overflowed,
    /// Refused like `Overflowed`, on a connection already known to be too slow.
    Full,
    /// The connection is gone.
    Closed,
}

impl Offer {
    /// Whether the frame is in the queue.
    pub fn accepted(self) -> bool {
        matches!(self, Offer::Queued | Offer::Merged(_))
    }
}

/// A bounded queue of frames; see the module's documentation. Cheap to share behind an `Arc`;
/// every method takes a short lock.
#[derive(Debug)]
pub struct OutboundQueue {
    capacity: usize,
    max_bytes: usize,
    state: Mutex<State>,
    metrics: Option<QueueMetrics>,
}

/// The engine-wide series a queue keeps up to date ([`crate::metrics`]): frames and bytes
/// waiting across every connection, and pushes merged away.
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    pub(crate) frames: Gauge,
    pub(crate) bytes: Gauge,
    pub(crate) merged: Counter,
}

impl QueueMetrics {
    fn added(&self, frames: usize, bytes: usize) {
        self.frames.inc_by(as_i64(frames));
        self.bytes.inc_by(as_i64(bytes));
    }

    fn removed(&self, frames: usize, bytes: usize) {
        self.frames.dec_by(as_i64(frames));
        self.bytes.dec_by(as_i64(bytes));
    }
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<(Frame, Option<Arc<SubKey>>)>,
    /// The bytes of the frames that wait.
    bytes: usize,
    closed: bool,
    /// A frame was refused: the connection cannot keep up.
    slow: bool,
    /// The engine asked the adapter to close the connection with this code (an expired
    /// credential, the application's disconnect): the first code asked for.
    ending: Option<u16>,
}

impl State {
    /// Whether one more frame of `len` bytes fits. A frame larger than the byte bound still
    /// goes into an empty queue: a single reply must never make a client slow by itself.
    fn fits(&self, len: usize, capacity: usize, max_bytes: usize) -> bool {
        self.frames.is_empty()
            || (self.frames.len() < capacity && self.bytes.saturating_add(len) <= max_bytes)
    }

    fn push(&mut self, frame: Frame, key: Option<Arc<SubKey>>) {
        self.bytes += frame.len();
        self.frames.push_back((frame, key));
    }

    fn refuse(&mut self) -> Offer {
        if std::mem::replace(&mut self.slow, true) {
            Offer::Full
        } else {
            Offer::Overflowed
        }
    }
}

impl OutboundQueue {
    /// A queue of at most `capacity` frames (at least one) and `max_bytes` bytes of them.
    pub fn new(capacity: usize, max_bytes: usize) -> OutboundQueue {
        OutboundQueue {
            capacity: capacity.max(1),
            max_bytes,
            state: Mutex::default(),
            metrics: None,
        }
    }

    /// The same queue, counted in an engine's metrics
    /// ([`Engine::outbound_queue`](crate::Engine::outbound_queue) makes one).
    pub fn metered(mut self, metrics: QueueMetrics) -> OutboundQueue {
        self.metrics = Some(metrics);
        self
    }

    /// A queue bounded by the limits' `outbound_queue` (frames) and `outbound_queue_bytes`.
    pub fn for_limits(limits: &Limits) -> OutboundQueue {
        OutboundQueue::new(limits.outbound_queue, limits.outbound_queue_bytes)
    }

    /// Offers a frame; `supersedes` names the subscription whose earlier pushes it makes
    /// obsolete (none for replies, feed events and group messages, which are never merged).
    pub fn offer(&self, frame: Frame, supersedes: Option<&Arc<SubKey>>) -> Offer {
        let mut state = self.lock();
        if state.closed {
            return Offer::Closed;
        }
        if state.fits(frame.len(), self.capacity, self.max_bytes) {
            if let Some(m) = &self.metrics {
                m.added(1, frame.len());
            }
            state.push(frame, supersedes.cloned());
            return Offer::Queued;
        }
        let Some(key) = supersedes else {
            return state.refuse();
        };
        let superseded = |queued: &Option<Arc<SubKey>>| queued.as_deref() == Some(&**key);
        let (merged, freed) = state
            .frames
            .iter()
            .filter(|(_, queued)| superseded(queued))
            .fold((0, 0), |(n, bytes), (f, _)| (n + 1, bytes + f.len()));
        // Merging must make room: the frames replaced are one or more, and what is left after
        // them must take the new frame.
        let fits_after = state.frames.len() - merged < self.capacity
            && (state.bytes - freed).saturating_add(frame.len()) <= self.max_bytes;
        if merged == 0 || !(fits_after || state.frames.len() == merged) {
            return state.refuse();
        }
        state.frames.retain(|(_, queued)| !superseded(queued));
        state.bytes -= freed;
        if let Some(m) = &self.metrics {
            m.removed(merged, freed);
            m.added(1, frame.len());
            m.merged.inc_by(merged as u64);
        }
        state.push(frame, Some(Arc::clone(key)));
        Offer::Merged(merged)
    }

    /// The frame at the front, if any.
    pub fn pop(&self) -> Option<Frame> {
        let mut state = self.lock();
        let (frame, _) = state.frames.pop_front()?;
        state.bytes -= frame.len();
        if let Some(m) = &self.metrics {
            m.removed(1, frame.len());
        }
        Some(frame)
    }

    /// How many bytes of frames wait.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether a frame was ever refused: the connection cannot keep up.
    pub fn is_slow(&self) -> bool {
        self.lock().slow
    }

    /// Asks the connection's adapter to close it with `code`, after the frames already
    /// queued; `false` when a close was asked for already (the first code stands) or the
    /// connection is gone. The adapter reads it with [`ending`](Self::ending).
    pub fn end(&self, code: u16) -> bool {
        let mut state = self.lock();
        if state.closed || state.ending.is_some() {
            return false;
        }
        state.ending = Some(code);
        true
    }

    /// The close code the engine asked for ([`end`](Self::end)), if any.
    pub fn ending(&self) -> Option<u16> {
        self.lock().ending
    }

    /// How many frames wait.
    pub fn len(&self) -> usize {
        self.lock().frames.len()
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The connection is gone: drops what waits and refuses every later frame.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        if let Some(m) = &self.metrics {
            m.removed(state.frames.len(), state.bytes);
        }
        state.frames.clear();
        state.bytes = 0;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for OutboundQueue {
    fn drop(&mut self) {
        // What still waits leaves the engine-wide count with the queue.
        if let Some(m) = &self.metrics {
            let state = self.lock();
            m.removed(state.frames.len(), state.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &str) -> Frame {
        Frame::from(s.to_owned())
    }

    fn key(event: &str, pk: Option<i64>) -> Arc<SubKey> {
        Arc::new(SubKey {
            stream: "s".into(),
            event: event.into(),
            pk: pk.map(Into::into),
        })
    }

    fn drain(q: &OutboundQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop())
            .map(|f| f.as_str().to_owned())
            .collect()
    }

    #[test]
    fn frames_leave_in_order_and_a_full_queue_refuses_what_it_cannot_merge() {
        let q = OutboundQueue::new(2, usize::MAX);
        assert_eq!(q.offer(frame("a"), None), Offer::Queued);
        assert_eq!(q.offer(frame("b"), Some(&key("e", Some(1)))), Offer::Queued);
        assert!(!q.is_slow());
        assert_eq!(q.offer(frame("c"), None), Offer::Overflowed);
        assert!(q.is_slow());
        assert_eq!(q.offer(frame("d"), Some(&key("e", Some(2)))), Offer::Full);
        assert_eq!(drain(&q), ["a", "b"]);
    }

    #[test]
    fn a_full_queue_merges_superseded_pushes_behind_what_came_before() {
        let q = OutboundQueue::new(4, usize::MAX);
        let row = key("s.retrieve#r", Some(1));
        // Not full: every state is kept.
        q.offer(frame("row v1"), Some(&row));
        q.offer(frame("row v2"), Some(&row));
        q.offer(frame("reply"), None);
        q.offer(frame("page v1"), Some(&key("s.search#q", None)));
        assert_eq!(q.len(), 4);
        // Full: the newest row replaces both older ones, after the reply.
        assert_eq!(q.offer(frame("row v3"), Some(&row)), Offer::Merged(2));
        assert_eq!(q.offer(frame("group"), None), Offer::Queued);
        assert_eq!(
            q.offer(frame("page v2"), Some(&key("s.search#q", None))),
            Offer::Merged(1),
            "equal keys merge, whichever instance holds them"
        );
        assert_eq!(drain(&q), ["reply", "row v3", "group", "page v2"]);
    }

    #[test]
    fn the_queue_is_bounded_by_bytes_as_well_as_frames() {
        let q = OutboundQueue::new(100, 10);
        let row = key("s.retrieve#r", Some(1));
        assert_eq!(q.offer(frame("12345"), None), Offer::Queued);
        assert_eq!(q.offer(frame("1234"), Some(&row)), Offer::Queued);
        assert_eq!(q.bytes(), 9);
        // Two frames, nine bytes: one more byte fits, two do not.
        assert_eq!(q.offer(frame("ab"), None), Offer::Overflowed);
        assert!(q.is_slow());
        // A push that supersedes the waiting one fits once that one is gone.
        assert_eq!(q.offer(frame("12345"), Some(&row)), Offer::Merged(1));
        assert_eq!(q.bytes(), 10);
        // ... but not when even without it the new one is too big.
        assert_eq!(q.offer(frame("123456"), Some(&row)), Offer::Full);
        assert_eq!(drain(&q), ["12345", "12345"]);
        assert_eq!(q.bytes(), 0);
        // An empty queue takes a frame of any size.
        assert_eq!(
            q.offer(frame("a frame larger than ten bytes"), None),
            Offer::Queued
        );
        assert_eq!(
            q.offer(frame("x"), None),
            Offer::Full,
            "already known to be slow"
        );
    }

    #[test]
    fn the_first_close_asked_for_stands() {
        let q = OutboundQueue::new(2, usize::MAX);
        assert_eq!(q.ending(), None);
        assert!(q.end(4001));
        assert!(!q.end(4003), "a second close is not taken");
        assert_eq!(q.ending(), Some(4001));
        assert_eq!(
            q.offer(frame("a"), None),
            Offer::Queued,
            "frames still queue"
        );
        let gone = OutboundQueue::new(1, 1);
        gone.close();
        assert!(!gone.end(4003), "a closed connection has nothing to close");
    }

    #[test]
    fn a_closed_queue_drops_and_refuses() {
        let q = OutboundQueue::new(2, usize::MAX);
        q.offer(frame("a"), None);
        q.close();
        assert!(q.is_empty());
        assert_eq!(q.offer(frame("b"), None), Offer::Closed);
        assert!(!Offer::Closed.accepted() && !Offer::Full.accepted());
        assert!(!Offer::Overflowed.accepted());
        assert!(Offer::Merged(1).accepted());
    }
}
