//! The budget of live queries: how many distinct live `search` and `list` queries one
//! connection (`max_live_queries`) and all of one user's connections together
//! (`max_live_queries_per_user`) may hold, and how many refreshes run at once server-wide
//! (`refresh_concurrency`).
//!
//! Every distinct live query costs a store read whenever a change may touch it, so a client
//! holding thousands of them would make every write of its stream cost thousands of reads and
//! starve everyone else's requests. Identical queries are run once however many hold them,
//! so only distinct ones count: a second subscription to a query the connection (or user)
//! already holds is free.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::outbound::SubKey;
use crate::protocol::{ApiError, ErrorCode};

/// The live queries of every signed-in user, by user id: each query's signature and how many
/// of the user's subscriptions hold it.
#[derive(Debug, Default)]
pub struct UserBudget {
    users: Mutex<HashMap<i64, HashMap<String, usize>>>,
}

impl UserBudget {
    fn users(&self) -> MutexGuard<'_, HashMap<i64, HashMap<String, usize>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection's live queries: each live subscription's query signature.
#[derive(Debug)]
pub struct LiveSlots {
    queries: Mutex<HashMap<SubKey, String>>,
    /// The connection's user; anonymous connections have the per-connection cap only.
    user: Option<i64>,
    budget: Arc<UserBudget>,
}

impl LiveSlots {
    /// The slots of a new connection of `user`.
    pub fn new(user: Option<i64>, budget: Arc<UserBudget>) -> Self {
        LiveSlots {
            queries: Mutex::default(),
            user,
            budget,
        }
    }

    /// Takes a slot for the live query `signature` under the subscription `key` (replacing
    /// what `key` held), or refuses it with `limit_exceeded` when it would be one distinct
    /// query more than `per_conn` for the connection or `per_user` for its user.
    pub fn reserve(
        &self,
        key: &SubKey,
        signature: &str,
        per_conn: usize,
        per_user: usize,
    ) -> Result<(), ApiError> {
        let mut mine = self.queries();
        let old = mine.get(key).cloned();
        if old.as_deref() == Some(signature) {
            return Ok(());
        }
        let held_by = |sig: &str| mine.iter().filter(|(k, s)| *k != key && *s == sig).count();
        if held_by(signature) == 0 {
            let mut distinct: Vec<&String> = mine
                .iter()
                .filter(|(k, _)| *k != key)
                .map(|(_, s)| s)
                .collect();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() >= per_conn {
                return Err(refused(format!(
                    "at most {per_conn} distinct live queries per connection"
                )));
            }
        }
        if let Some(user) = self.user {
            let mut users = self.budget.users();
            let held = users.entry(user).or_default();
            // What replacing `key` frees: its old query, if no other subscription holds it.
            let frees = old
                .as_ref()
                .is_some_and(|old| held.get(old).copied() == Some(1));
            if !held.contains_key(signature) && held.len() - usize::from(frees) >= per_user {
                if held.is_empty() {
                    users.remove(&user);
                }
                return Err(refused(format!(
                    "at most {per_user} distinct live queries per user"
                )));
            }
            *held.entry(signature.to_owned()).or_default() += 1;
            if let Some(old) = &old {
                release(held, old);
            }
        }
        mine.insert(key.clone(), signature.to_owned());
        Ok(())
    }

    /// Frees the slot of `key`, if it held a live query.
    pub fn release(&self, key: &SubKey) {
        let Some(signature) = self.queries().remove(key) else {
            return;
        };
        if let Some(user) = self.user {
            let mut users = self.budget.users();
            if let Some(held) = users.get_mut(&user) {
                release(held, &signature);
                if held.is_empty() {
                    users.remove(&user);
                }
            }
        }
    }

    /// How many distinct live queries the connection holds.
    pub fn distinct(&self) -> usize {
        let mine = self.queries();
        let mut all: Vec<&String> = mine.values().collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    }

    fn queries(&self) -> MutexGuard<'_, HashMap<SubKey, String>> {
        self.queries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for LiveSlots {
    /// A connection that goes frees its user's slots even if no actor told it of each end.
    fn drop(&mut self) {
        let keys: Vec<SubKey> = self.queries().keys().cloned().collect();
        for key in keys {
            self.release(&key);
        }
    }
}

fn release(held: &mut HashMap<String, usize>, signature: &str) {
    if let Some(n) = held.get_mut(signature) {
        *n -= 1;
        if *n == 0 {
            held.remove(signature);
        }
    }
}

fn refused(message: String) -> ApiError {
    ApiError::new(ErrorCode::LimitExceeded, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(event: &str) -> SubKey {
        SubKey {
            stream: "s".into(),
            event: event.into(),
            pk: None,
        }
    }

    #[test]
    fn only_distinct_queries_count_and_freed_slots_return() {
        let budget = Arc::new(UserBudget::default());
        let a = LiveSlots::new(Some(7), Arc::clone(&budget));
        a.reserve(&key("s.search#1"), "q1", 2, 3).unwrap();
        a.reserve(&key("s.search#2"), "q1", 2, 3).unwrap();
        a.reserve(&key("s.search#3"), "q2", 2, 3).unwrap();
        let err = a.reserve(&key("s.search#4"), "q3", 2, 3).unwrap_err();
        assert_eq!(err.code, ErrorCode::LimitExceeded);
        // Replacing a subscription's query with another is no extra slot.
        a.reserve(&key("s.search#3"), "q3", 2, 3).unwrap();
        assert_eq!(a.distinct(), 2);

        let b = LiveSlots::new(Some(7), Arc::clone(&budget));
        b.reserve(&key("s.search#1"), "q1", 5, 3).unwrap();
        b.reserve(&key("s.search#2"), "q4", 5, 3).unwrap();
        let err = b.reserve(&key("s.search#3"), "q5", 5, 3).unwrap_err();
        assert!(err.message.contains("per user"), "{err:?}");
        a.release(&key("s.search#3"));
        b.reserve(&key("s.search#3"), "q5", 5, 3).unwrap();
        drop((a, b));
        assert!(budget.users().is_empty());
    }
}
