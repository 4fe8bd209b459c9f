//! Connection limits: how many connections the server holds (`max_connections`) and how many
//! WebSockets one user, or one address for anonymous clients, holds
//! (`max_connections_per_user`). Past either, the adapter answers HTTP 503 and nothing else is
//! disturbed.
//!
//! Each admitted connection holds a permit that gives its place back when dropped, so a limit
//! can never leak however a connection ends.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::auth::Refusal;

/// How many connections past `max_connections` may be answered with 503 at once; past it a
/// connection is closed without an answer. Refusing must stay cheaper than serving, or a flood
/// would still exhaust the threads and file descriptors the limit protects.
pub const MAX_REFUSING: usize = 16;

/// Who a connection counts against for per-user limits: its user, or its address when it is
/// anonymous.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A signed-in user, by id.
    User(i64),
    /// An anonymous client, by address.
    Address(IpAddr),
}

/// The server's connection counts.
#[derive(Debug)]
pub(crate) struct Admission {
    max_total: usize,
    max_per_holder: usize,
    total: AtomicUsize,
    per_holder: Mutex<HashMap<Holder, usize>>,
    refusing: AtomicUsize,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_holder: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_total,
            max_per_holder,
            total: AtomicUsize::new(0),
            per_holder: Mutex::new(HashMap::new()),
            refusing: AtomicUsize::new(0),
        })
    }

    /// A place for one more connection, if the server has one.
    pub(crate) fn connection(self: &Arc<Self>) -> Result<ConnectionPermit, Refusal> {
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            })
            .map_err(|_| Refusal::TooManyConnections)?;
        Ok(ConnectionPermit {
            admission: Arc::clone(self),
        })
    }

    /// A place for one more WebSocket of `holder`, if it has one.
    pub(crate) fn holder(self: &Arc<Self>, holder: Holder) -> Result<HolderPermit, Refusal> {
        let mut per = self.lock();
        let held = per.entry(holder.clone()).or_insert(0);
        if *held >= self.max_per_holder {
            return Err(Refusal::TooManyConnections);
        }
        *held += 1;
        Ok(HolderPermit {
            admission: Arc::clone(self),
            holder,
        })
    }

    /// A place among the connections being refused with 503, if one of the
    /// [`MAX_REFUSING`] is free.
    pub(crate) fn refusal(self: &Arc<Self>) -> Option<RefusalPermit> {
        self.refusing
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_REFUSING).then_some(n + 1)
            })
            .ok()?;
        Some(RefusalPermit {
            admission: Arc::clone(self),
        })
    }

    /// How many connections are open.
    pub(crate) fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Holder, usize>> {
        self.per_holder.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection's place under `max_connections`; dropping it gives the place back.
pub struct ConnectionPermit {
    admission: Arc<Admission>,
}

impl fmt::Debug for ConnectionPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPermit").finish_non_exhaustive()
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.admission.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One refused connection's place among the [`MAX_REFUSING`] answered at once; dropping it
/// gives the place back.
pub struct RefusalPermit {
    admission: Arc<Admission>,
}

impl fmt::Debug for RefusalPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusalPermit").finish_non_exhaustive()
    }
}

impl Drop for RefusalPermit {
    fn drop(&mut self) {
        self.admission.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One WebSocket's place under `max_connections_per_user`; dropping it gives the place back.
pub struct HolderPermit {
    admission: Arc<Admission>,
    holder: Holder,
}

impl fmt::Debug for HolderPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HolderPermit")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl Drop for HolderPermit {
    fn drop(&mut self) {
        let mut per = self.admission.lock();
        if let Some(held) = per.get_mut(&self.holder) {
            *held -= 1;
            if *held == 0 {
                // Forget holders with nothing open, so the map is bounded by open connections.
                per.remove(&self.holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_and_given_back_on_drop() {
        let a = Admission::new(2, 1);
        let one = a.connection().unwrap();
        let two = a.connection().unwrap();
        assert_eq!(a.connection().unwrap_err(), Refusal::TooManyConnections);
        drop(one);
        let _three = a.connection().unwrap();
        assert_eq!(a.open(), 2);
        drop(two);

        let alice = a.holder(Holder::User(1)).unwrap();
        assert!(a.holder(Holder::User(1)).is_err());
        let _bob = a.holder(Holder::User(2)).unwrap();
        let _anon = a.holder(Holder::Address([10, 0, 0, 1].into())).unwrap();
        drop(alice);
        assert!(a.holder(Holder::User(1)).is_ok());
        assert!(
            !a.lock().contains_key(&Holder::User(1)),
            "nothing held, forgotten"
        );
    }

    #[test]
    fn at_most_max_refusing_connections_are_answered_at_once() {
        let a = Admission::new(0, 0);
        let answering: Vec<_> = (0..MAX_REFUSING).map(|_| a.refusal().unwrap()).collect();
        assert!(a.refusal().is_none(), "one more is closed unanswered");
        drop(answering);
        assert!(a.refusal().is_some());
    }
}
