//! What one connection's subscriptions hold in memory, against `max_subscription_bytes`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes one connection's live results hold (each live `search` or `list` keeps its last
/// result to tell what changed), measured as the size of their frames. A new subscription is
/// granted only while the total stays within the bound; one already granted keeps its pushes.
#[derive(Debug)]
pub struct HeldBytes {
    max: usize,
    held: AtomicUsize,
}

impl HeldBytes {
    /// Nothing held yet, against a bound of `max` bytes.
    pub fn new(max: usize) -> HeldBytes {
        HeldBytes {
            max,
            held: AtomicUsize::new(0),
        }
    }

    /// Takes `n` more bytes if the total stays within the bound; `false` (and nothing taken)
    /// when it would not.
    pub fn try_take(&self, n: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|total| *total <= self.max)
            })
            .is_ok()
    }

    /// A granted result changed size from `old` to `new` bytes (the total may pass the bound).
    pub fn replace(&self, old: usize, new: usize) {
        self.held.fetch_add(new, Ordering::AcqRel);
        self.release(old);
    }

    /// Gives back `n` bytes (a subscription ended).
    pub fn release(&self, n: usize) {
        let _ = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(n))
            });
    }

    /// The bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_within_the_bound_and_gives_back() {
        let h = HeldBytes::new(10);
        assert!(h.try_take(6));
        assert!(!h.try_take(5), "11 bytes would pass the bound");
        assert_eq!(h.held(), 6);
        assert!(h.try_take(4));
        h.replace(4, 9);
        assert_eq!(h.held(), 15, "a granted result may grow past the bound");
        assert!(!h.try_take(1));
        h.release(9);
        h.release(100);
        assert_eq!(h.held(), 0);
        assert!(!h.try_take(usize::MAX));
    }
}
