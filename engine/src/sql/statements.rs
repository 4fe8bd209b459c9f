//! The policy of the PostgreSQL stores' per-connection prepared statements: a cache bounded by
//! count that lets go of the least recently used statement when it is full.
//!
//! Every distinct statement text a connection prepares costs memory in its server backend
//! (the plan) and in the client (the statement's description) until it is closed. Texts repeat
//! per op shape, but a client can make ever new shapes (filter key sets, orders), so an
//! unbounded cache grows both without limit. Each store keeps one [`StatementCache`] per
//! connection; a statement it evicts is handed back so the store drops it, and with the
//! `postgres` drivers dropping the last handle of a statement closes it on the server.

use std::collections::{BTreeMap, HashMap};

/// The statements one connection keeps prepared, at most [`capacity`](Self::capacity) of them,
/// keyed by their text. `S` is the driver's statement handle, cheap to clone.
///
/// ```
/// use chanbind_engine::sql::StatementCache;
///
/// let mut cache = StatementCache::new(2);
/// assert!(cache.insert("a".into(), 1).is_empty());
/// assert!(cache.insert("b".into(), 2).is_empty());
/// assert_eq!(cache.get("a"), Some(1)); // "a" is now the most recently used
/// assert_eq!(cache.insert("c".into(), 3), [2]); // so "b" goes
/// assert_eq!(cache.len(), 2);
/// ```
#[derive(Debug)]
pub struct StatementCache<S> {
    capacity: usize,
    /// Text to its statement and the tick of its last use.
    entries: HashMap<String, (S, u64)>,
    /// Tick of last use to text: the first entry is the least recently used.
    by_use: BTreeMap<u64, String>,
    /// Counts uses; each use gets a new, larger tick.
    tick: u64,
}

impl<S: Clone> StatementCache<S> {
    /// An empty cache that keeps at most `capacity` statements. With 0 nothing is kept: every
    /// statement is prepared for one use and closed after it.
    pub fn new(capacity: usize) -> Self {
        StatementCache {
            capacity,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            tick: 0,
        }
    }

    /// The statement prepared for `text`, if kept, now the most recently used.
    pub fn get(&mut self, text: &str) -> Option<S> {
        let tick = self.next_tick();
        let (statement, last) = self.entries.get_mut(text)?;
        let text = self.by_use.remove(last).expect("every entry has a tick");
        *last = tick;
        self.by_use.insert(tick, text);
        Some(statement.clone())
    }

    /// Keeps `statement` for `text` as the most recently used, and returns what no longer
    /// fits (least recently used first), or the statement itself when the capacity is 0.
    /// The caller drops them, which closes them on the server.
    pub fn insert(&mut self, text: String, statement: S) -> Vec<S> {
        if self.capacity == 0 {
            return vec![statement];
        }
        let tick = self.next_tick();
        let mut evicted = Vec::new();
        if let Some((old, last)) = self.entries.remove(&text) {
            self.by_use.remove(&last);
            evicted.push(old);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((old, _)) = self.entries.remove(&oldest) {
                evicted.push(old);
            }
        }
        self.by_use.insert(tick, text.clone());
        self.entries.insert(text, (statement, tick));
        evicted
    }

    /// How many statements are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most statements kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut cache = StatementCache::new(3);
        for (i, text) in ["a", "b", "c"].into_iter().enumerate() {
            assert!(cache.insert(text.into(), i).is_empty());
        }
        assert_eq!(cache.get("a"), Some(0));
        assert_eq!(cache.get("b"), Some(1));
        assert_eq!(cache.insert("d".into(), 3), [2]);
        assert_eq!(cache.get("c"), None);
        assert_eq!(cache.insert("e".into(), 4), [0]);
        assert_eq!(cache.len(), 3);
        assert_eq!(
            (cache.get("b"), cache.get("d"), cache.get("e")),
            (Some(1), Some(3), Some(4))
        );
    }

    #[test]
    fn many_texts_keep_the_size_at_the_capacity() {
        let mut cache = StatementCache::new(64);
        let mut evicted = 0;
        for i in 0..10_000 {
            evicted += cache.insert(format!("SELECT {i}"), i).len();
            assert!(cache.len() <= 64);
        }
        assert_eq!(evicted, 10_000 - 64);
        assert_eq!(cache.by_use.len(), 64);
    }

    #[test]
    fn inserting_a_kept_text_again_replaces_it() {
        let mut cache = StatementCache::new(2);
        cache.insert("a".into(), 1);
        assert_eq!(cache.insert("a".into(), 2), [1]);
        assert_eq!(cache.get("a"), Some(2));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut cache = StatementCache::new(0);
        assert_eq!(cache.insert("a".into(), 1), [1]);
        assert!(cache.is_empty());
        assert_eq!(cache.get("a"), None);
    }
}
