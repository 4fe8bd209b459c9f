//! The request ids the engine remembers (docs/protocol.md section 2, "Request ids"): for each
//! owner (a user, an anonymous address or connection, application code) the ids of its recent
//! writes, each with what its first request was answered, so that the same id again gets that
//! answer instead of writing twice.
//!
//! The table lives in the engine, not in a session, so a retry on a new connection (after a
//! reconnect, or over HTTP) finds it. It is bounded three ways, each oldest first: an id is
//! forgotten `request_id_window` after its first request arrived, an owner keeps at most
//! `max_request_ids_per_user` ids, and the server at most `max_request_ids` ids holding at
//! most `max_request_id_bytes` of answers. On a cluster each node has its own table.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use crate::config::Limits;
use crate::outbound::ConnId;

/// What an entry costs besides its id and its answer: the keys in the table's queues and
/// maps, roughly.
const ENTRY_OVERHEAD: usize = 160;

/// Whose request ids a request's id is looked up among.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// A signed-in user, over every transport and connection.
    User(i64),
    /// Anonymous clients of one address.
    Address(IpAddr),
    /// An anonymous connection whose address is not known.
    Connection(ConnId),
    /// Application code writing with every right.
    System,
}

/// A digest of what a request asks (its stream, action and `data` without the id), so an id
/// reused for another request is told apart.
pub(crate) type Fingerprint = [u8; 32];

/// What the first request with an id was answered: its reply's `data` or its error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// The reply's `data`.
    Data(Value),
    /// The error object.
    Error(Value),
}

/// What looking an id up found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The id is new: run the request and [`finish`](Claim::finish) the claim with its answer.
    Fresh(Claim),
    /// The id was answered before.
    Answered(Arc<Outcome>),
    /// The first request with the id is still running; its answer comes through the wait.
    Running(Wait),
    /// The id was used for a different request.
    Mismatch,
}

/// A retry's wait for the answer of the first request with its id.
#[derive(Debug)]
pub(crate) struct Wait(watch::Receiver<Option<Arc<Outcome>>>);

impl Wait {
    /// The first request's answer; `None` when it ended without one (its job was dropped).
    pub(crate) async fn outcome(mut self) -> Option<Arc<Outcome>> {
        match self.0.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        }
    }
}

/// The right and duty to answer an id for the first time. Dropped without
/// [`finish`](Self::finish), the id is forgotten and its waiting retries are told so.
#[derive(Debug)]
pub(crate) struct Claim {
    ids: Arc<RequestIds>,
    slot: Slot,
    seq: u64,
    answer: watch::Sender<Option<Arc<Outcome>>>,
    finished: bool,
}

impl Claim {
    /// Gives the answer to the retries waiting for it, and remembers it for later ones unless
    /// `remember` is false. `size` is roughly what the answer takes in bytes.
    pub(crate) fn finish(mut self, outcome: Outcome, remember: bool, size: usize) {
        self.finished = true;
        let outcome = Arc::new(outcome);
        self.answer.send_replace(Some(Arc::clone(&outcome)));
        let ids = Arc::clone(&self.ids);
        let mut guard = ids.lock();
        let table = &mut *guard;
        if table.seq_of(&self.slot) != Some(self.seq) {
            // Forgotten meanwhile (past a bound): nothing to keep.
            return;
        }
        if !remember {
            table.remove(&self.slot);
            return;
        }
        if let Some(entry) = table.entries.get_mut(&self.slot) {
            let bytes = entry_bytes(&self.slot.1, size);
            table.bytes = table.bytes + bytes - entry.bytes;
            entry.bytes = bytes;
            entry.state = State::Done(outcome);
        }
        while table.bytes > ids.max_bytes && table.evict_oldest() {}
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut table = self.ids.lock();
        if table.seq_of(&self.slot) == Some(self.seq) {
            table.remove(&self.slot);
        }
    }
}

/// The engine's remembered request ids.
#[derive(Debug)]
pub(crate) struct RequestIds {
    window: Duration,
    max_total: usize,
    max_per_owner: usize,
    max_bytes: usize,
    table: Mutex<Table>,
}

impl RequestIds {
    /// A table bounded by the request-id limits of `limits`.
    pub(crate) fn new(limits: &Limits) -> Arc<RequestIds> {
        Arc::new(RequestIds {
            window: limits.request_id_window,
            max_total: limits.max_request_ids,
            max_per_owner: limits.max_request_ids_per_user,
            max_bytes: limits.max_request_id_bytes,
            table: Mutex::new(Table::default()),
        })
    }

    /// Looks `id` up among `owner`'s, and claims it when it is new.
    pub(crate) fn claim(
        self: &Arc<Self>,
        owner: Owner,
        id: String,
        fingerprint: Fingerprint,
    ) -> Lookup {
        self.claim_at(owner, id, fingerprint, Instant::now())
    }

    fn claim_at(
        self: &Arc<Self>,
        owner: Owner,
        id: String,
        fingerprint: Fingerprint,
        now: Instant,
    ) -> Lookup {
        let slot = (owner, id);
        let (answer, _) = watch::channel(None);
        let off = self.window.is_zero() || self.max_total == 0 || self.max_per_owner == 0;
        let mut table = self.lock();
        table.expire(now, self.window);
        if let Some(entry) = table.entries.get(&slot) {
            return match (&entry.state, entry.fingerprint == fingerprint) {
                (_, false) => Lookup::Mismatch,
                (State::Done(outcome), true) => Lookup::Answered(Arc::clone(outcome)),
                (State::Running(wait), true) => Lookup::Running(Wait(wait.clone())),
            };
        }
        table.next += 1;
        let seq = table.next;
        if !off {
            table.insert(slot.clone(), seq, now, fingerprint, answer.subscribe());
            while table.owned(&slot.0) > self.max_per_owner && table.evict_oldest_of(&slot.0) {}
            while (table.entries.len() > self.max_total || table.bytes > self.max_bytes)
                && table.evict_oldest()
            {}
        }
        drop(table);
        Lookup::Fresh(Claim {
            ids: Arc::clone(self),
            slot,
            seq,
            answer,
            finished: false,
        })
    }

    /// How many ids the table remembers (running ones included).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Slot = (Owner, String);

#[derive(Debug)]
enum State {
    Running(watch::Receiver<Option<Arc<Outcome>>>),
    Done(Arc<Outcome>),
}

#[derive(Debug)]
struct Entry {
    /// Tells this entry from an earlier one of the same slot in the queues.
    seq: u64,
    arrived: Instant,
    fingerprint: Fingerprint,
    state: State,
    bytes: usize,
}

/// One owner's ids, oldest first; the queue may still hold forgotten ones, which `live` does
/// not count.
#[derive(Debug, Default)]
struct Owned {
    ids: VecDeque<(u64, String)>,
    live: usize,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<Slot, Entry>,
    /// Every id, oldest first (arrival order is time order); may hold forgotten ones.
    order: VecDeque<(u64, Slot)>,
    owners: HashMap<Owner, Owned>,
    bytes: usize,
    next: u64,
}

impl Table {
    fn seq_of(&self, slot: &Slot) -> Option<u64> {
        self.entries.get(slot).map(|e| e.seq)
    }

    fn owned(&self, owner: &Owner) -> usize {
        self.owners.get(owner).map_or(0, |o| o.live)
    }

    fn insert(
        &mut self,
        slot: Slot,
        seq: u64,
        now: Instant,
        fingerprint: Fingerprint,
        wait: watch::Receiver<Option<Arc<Outcome>>>,
    ) {
        let bytes = entry_bytes(&slot.1, 0);
        self.bytes += bytes;
        let owned = self.owners.entry(slot.0.clone()).or_default();
        owned.ids.push_back((seq, slot.1.clone()));
        owned.live += 1;
        self.order.push_back((seq, slot.clone()));
        self.entries.insert(
            slot,
            Entry {
                seq,
                arrived: now,
                fingerprint,
                state: State::Running(wait),
                bytes,
            },
        );
    }

    fn remove(&mut self, slot: &Slot) {
        let Some(entry) = self.entries.remove(slot) else {
            return;
        };
        self.bytes -= entry.bytes;
        if let Some(owned) = self.owners.get_mut(&slot.0) {
            owned.live -= 1;
            if owned.live == 0 {
                self.owners.remove(&slot.0);
            } else if owned.ids.len() > 2 * owned.live + 8 {
                let entries = &self.entries;
                let owner = &slot.0;
                owned.ids.retain(|(seq, id)| {
                    entries.get(&(owner.clone(), id.clone())).map(|e| e.seq) == Some(*seq)
                });
            }
        }
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(seq, slot)| entries.get(slot).map(|e| e.seq) == Some(*seq));
        }
    }

    /// Forgets ids that arrived `window` or longer before `now`.
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((seq, slot)) = self.order.front() {
            match self.entries.get(slot) {
                Some(entry) if entry.seq == *seq => {
                    if now.saturating_duration_since(entry.arrived) < window {
                        return;
                    }
                    let slot = slot.clone();
                    self.order.pop_front();
                    self.remove(&slot);
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// Forgets the oldest id; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((seq, slot)) = self.order.pop_front() {
            if self.seq_of(&slot) == Some(seq) {
                self.remove(&slot);
                return true;
            }
        }
        false
    }

    /// Forgets `owner`'s oldest id; false when it has none.
    fn evict_oldest_of(&mut self, owner: &Owner) -> bool {
        loop {
            let Some((seq, id)) = self.owners.get_mut(owner).and_then(|o| o.ids.pop_front()) else {
                return false;
            };
            let slot = (owner.clone(), id);
            if self.seq_of(&slot) == Some(seq) {
                self.remove(&slot);
                return true;
            }
        }
    }
}

fn entry_bytes(id: &str, answer: usize) -> usize {
    ENTRY_OVERHEAD + id.len() + answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(window_ms: u64, per_owner: usize, total: usize) -> Arc<RequestIds> {
        RequestIds::new(&Limits {
            request_id_window: Duration::from_millis(window_ms),
            max_request_ids_per_user: per_owner,
            max_request_ids: total,
            ..Limits::default()
        })
    }

    fn answered(ids: &Arc<RequestIds>, owner: Owner, id: &str, at: Instant) {
        match ids.claim_at(owner, id.into(), [0; 32], at) {
            Lookup::Fresh(claim) => claim.finish(Outcome::Data(json!({"id": id})), true, 10),
            other => panic!("{id} is new, got {other:?}"),
        }
    }

    fn is_answered(ids: &Arc<RequestIds>, owner: Owner, id: &str, at: Instant) -> bool {
        matches!(
            ids.claim_at(owner, id.into(), [0; 32], at),
            Lookup::Answered(_)
        )
    }

    #[test]
    fn an_id_is_forgotten_once_its_window_has_passed() {
        let ids = ids(1000, 10, 10);
        let t0 = Instant::now();
        answered(&ids, Owner::User(1), "a", t0);
        assert!(is_answered(
            &ids,
            Owner::User(1),
            "a",
            t0 + Duration::from_millis(999)
        ));
        assert!(!is_answered(
            &ids,
            Owner::User(1),
            "a",
            t0 + Duration::from_millis(1000)
        ));
    }

    #[test]
    fn past_the_bounds_the_oldest_ids_are_forgotten() {
        let ids = ids(60_000, 2, 3);
        let t0 = Instant::now();
        for id in ["a", "b", "c"] {
            answered(&ids, Owner::User(1), id, t0);
        }
        assert!(is_answered(&ids, Owner::User(1), "b", t0));
        assert!(is_answered(&ids, Owner::User(1), "c", t0));
        assert_eq!(ids.len(), 2, "per owner");
        answered(&ids, Owner::User(2), "x", t0);
        answered(&ids, Owner::User(2), "y", t0);
        assert_eq!(ids.len(), 3, "in total");
        assert!(is_answered(&ids, Owner::User(1), "c", t0));
        assert!(is_answered(&ids, Owner::User(2), "x", t0));
        assert!(is_answered(&ids, Owner::User(2), "y", t0));
        // Looking a forgotten id up claims it anew (it is a new write); the claim is
        // dropped unfinished here, so it is gone again.
        assert!(!is_answered(&ids, Owner::User(1), "b", t0), "in total");
        assert!(!is_answered(&ids, Owner::User(1), "a", t0), "per owner");
    }

    #[test]
    fn an_unfinished_claim_is_forgotten_and_its_waiters_get_nothing() {
        let ids = ids(60_000, 10, 10);
        let t0 = Instant::now();
        let Lookup::Fresh(claim) = ids.claim_at(Owner::System, "a".into(), [1; 32], t0) else {
            panic!("new")
        };
        let Lookup::Running(wait) = ids.claim_at(Owner::System, "a".into(), [1; 32], t0) else {
            panic!("running")
        };
        assert!(matches!(
            ids.claim_at(Owner::System, "a".into(), [2; 32], t0),
            Lookup::Mismatch
        ));
        drop(claim);
        assert_eq!(futures_executor::block_on(wait.outcome()), None);
        assert_eq!(ids.len(), 0);
    }

    #[test]
    fn a_waiter_gets_an_answer_that_is_not_remembered() {
        let ids = ids(60_000, 10, 10);
        let t0 = Instant::now();
        let Lookup::Fresh(claim) = ids.claim_at(Owner::System, "a".into(), [1; 32], t0) else {
            panic!("new")
        };
        let Lookup::Running(wait) = ids.claim_at(Owner::System, "a".into(), [1; 32], t0) else {
            panic!("running")
        };
        let error = Outcome::Error(json!({"code": "unavailable"}));
        claim.finish(error.clone(), false, 10);
        assert_eq!(
            futures_executor::block_on(wait.outcome()).as_deref(),
            Some(&error)
        );
        assert_eq!(ids.len(), 0);
    }
}
