//! The engine's `Outbound` on a bounded tokio channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chanbind_engine::outbound::Outbound;
use chanbind_engine::protocol::Frame;
use tokio::sync::{mpsc, Notify};

/// The sending half of a connection's outbound queue. When the queue is full the connection
/// is marked slow and its writer closes it with 4008; no actor ever waits for it.
pub(crate) struct ChannelOutbound {
    tx: mpsc::Sender<Frame>,
    slow: Arc<SlowFlag>,
}

/// Set once when a connection's queue overflows.
#[derive(Default)]
pub(crate) struct SlowFlag {
    set: AtomicBool,
    notify: Notify,
}

impl SlowFlag {
    /// Waits until the connection is marked slow.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.set.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

impl ChannelOutbound {
    pub(crate) fn new(capacity: usize) -> (Arc<Self>, mpsc::Receiver<Frame>, Arc<SlowFlag>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let slow = Arc::new(SlowFlag::default());
        (
            Arc::new(ChannelOutbound {
                tx,
                slow: Arc::clone(&slow),
            }),
            rx,
            slow,
        )
    }
}

impl Outbound for ChannelOutbound {
    fn send(&self, frame: Frame) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.slow.set.swap(true, Ordering::AcqRel) {
                    self.slow.notify.notify_waiters();
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
