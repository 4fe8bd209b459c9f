//! Rows watched by `retrieve`: the new row on every change, `delete` when it goes.
//!
//! Watchers of a row are grouped by their event text at subscription time, so a change costs
//! one encode per distinct event and then one queue push per watcher, with no per-watcher
//! hashing or formatting.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;

use crate::binding::ModelBinding;
use crate::change::{Change, ChangeKind};
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::protocol::{encode_reply, EventName};
use crate::session::render_row;
use crate::stats::Stats;

/// The watchers of one row under one event.
struct EventWatchers {
    event: EventName,
    /// `<stream>.delete[#hash]`, precomputed.
    delete_event: String,
    watchers: Vec<(ConnHandle, SubKey)>,
}

/// `retrieve` subscriptions by row and event text, and the rows each connection watches.
pub(super) struct RowSubs {
    binding: Arc<ModelBinding>,
    stats: Arc<Stats>,
    rows: HashMap<i64, BTreeMap<String, EventWatchers>>,
    by_conn: HashMap<ConnId, HashSet<i64>>,
}

impl RowSubs {
    pub(super) fn new(binding: Arc<ModelBinding>, stats: Arc<Stats>) -> Self {
        RowSubs {
            binding,
            stats,
            rows: HashMap::new(),
            by_conn: HashMap::new(),
        }
    }

    pub(super) fn watch(&mut self, conn: ConnHandle, key: SubKey, event: EventName) {
        let Some(pk) = key.pk else { return };
        self.by_conn.entry(conn.id).or_default().insert(pk);
        let group = self.rows.entry(pk).or_default().entry(key.event.clone()).or_insert_with(|| EventWatchers {
            delete_event: event.with_action("delete").to_string(),
            event,
            watchers: Vec::new(),
        });
        group.watchers.retain(|(c, k)| !(c.id == conn.id && *k == key));
        group.watchers.push((conn, key));
    }

    pub(super) fn remove(&mut self, conn: ConnId, pick: &impl Fn(&SubKey, &EventName) -> bool) -> usize {
        let Some(pks) = self.by_conn.remove(&conn) else { return 0 };
        let mut removed = 0;
        let mut kept = HashSet::new();
        for pk in pks {
            let Some(groups) = self.rows.get_mut(&pk) else { continue };
            for group in groups.values_mut() {
                let event = &group.event;
                group.watchers.retain(|(c, k)| {
                    if c.id != conn {
                        true
                    } else if pick(k, event) {
                        c.forget(k);
                        removed += 1;
                        false
                    } else {
                        kept.insert(pk);
                        true
                    }
                });
            }
            groups.retain(|_, g| !g.watchers.is_empty());
            if groups.is_empty() {
                self.rows.remove(&pk);
            }
        }
        if !kept.is_empty() {
            self.by_conn.insert(conn, kept);
        }
        removed
    }

    /// Pushes the change to the row's watchers; returns connections whose queue refused it.
    pub(super) fn apply(&mut self, change: &Change) -> Vec<ConnId> {
        let Some(groups) = self.rows.get(&change.pk) else { return Vec::new() };
        let deleted = change.kind == ChangeKind::Deleted;
        let payload = match (&change.new, deleted) {
            (Some(row), false) => render_row(&self.binding, row),
            _ => json!({"id": change.pk, "deleted": true}),
        };
        let mut gone = Vec::new();
        let (mut delivered, mut refused) = (0u64, 0u64);
        for (text, group) in groups {
            let frame = encode_reply(if deleted { &group.delete_event } else { text }, &payload);
            self.stats.encoded();
            for (conn, _) in &group.watchers {
                if conn.out.send(frame.clone()) {
                    delivered += 1;
                } else {
                    refused += 1;
                    gone.push(conn.id);
                }
            }
        }
        self.stats.delivered_many(delivered, refused);
        if deleted {
            // A deleted row has nothing left to watch.
            for group in self.rows.remove(&change.pk).unwrap_or_default().into_values() {
                for (conn, key) in group.watchers {
                    conn.forget(&key);
                    if let Some(pks) = self.by_conn.get_mut(&conn.id) {
                        pks.remove(&change.pk);
                    }
                }
            }
        }
        gone
    }
}
