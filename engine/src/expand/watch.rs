//! Which changes of related rows can change a result that shows them.

use std::collections::{HashMap, HashSet};

use crate::change::Change;
use crate::key::Key;
use crate::value::Row;

/// The related rows one read showed, or asked for and did not find: an expansion's keys (a
/// row created, changed or brought into scope under one of them changes the result), and an
/// include's parent keys by foreign key (a row whose foreign key held or holds one of them
/// does). Built by [`Relations::render`](super::Relations::render).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watch {
    /// Rows shown, or asked for, by key: stream to keys.
    keys: HashMap<String, HashSet<Key>>,
    /// Rows shown because their foreign key holds a parent's key: (stream, field) to keys.
    refs: HashMap<(String, String), HashSet<Key>>,
}

impl Watch {
    /// Whether the read showed nothing related.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.refs.is_empty()
    }

    /// The rows of `stream` under these keys.
    pub(super) fn keys(&mut self, stream: &str, keys: impl IntoIterator<Item = Key>) {
        self.keys.entry(stream.to_owned()).or_default().extend(keys);
    }

    /// The rows of `stream` whose `field` holds one of these keys.
    pub(super) fn refs(&mut self, stream: &str, field: &str, keys: impl IntoIterator<Item = Key>) {
        self.refs
            .entry((stream.to_owned(), field.to_owned()))
            .or_default()
            .extend(keys);
    }

    /// Adds what `other` watches.
    pub fn merge(&mut self, other: &Watch) {
        for (stream, keys) in &other.keys {
            self.keys(stream, keys.iter().cloned());
        }
        for ((stream, field), keys) in &other.refs {
            self.refs(stream, field, keys.iter().cloned());
        }
    }

    /// Whether `change` can change what the read showed: it is one of the rows shown or asked
    /// for, or its foreign key held (before, when the change knows it) or holds a watched
    /// parent's key. A change captured without its old row that moved a shown row away is
    /// caught by the row's own key.
    pub fn touches(&self, change: &Change) -> bool {
        if self
            .keys
            .get(&change.stream)
            .is_some_and(|keys| keys.contains(&change.pk))
        {
            return true;
        }
        let holds = |row: &Option<Row>, field: &str, keys: &HashSet<Key>| {
            row.as_ref()
                .and_then(|r| r.get(field))
                .and_then(Key::from_json)
                .is_some_and(|k| keys.contains(&k))
        };
        self.refs.iter().any(|((stream, field), keys)| {
            *stream == change.stream
                && (holds(&change.old, field, keys) || holds(&change.new, field, keys))
        })
    }
}
