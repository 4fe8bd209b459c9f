//! Rows watched by `retrieve`: the new row on every change, `delete` when it goes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;

use super::FrameCache;
use crate::binding::ModelBinding;
use crate::change::{Change, ChangeKind};
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::protocol::{encode_reply, EventName};
use crate::session::render_row;
use crate::stats::Stats;

struct RowSub {
    conn: ConnHandle,
    key: SubKey,
    event: EventName,
}

/// `retrieve` subscriptions by row, and the rows each connection watches.
pub(super) struct RowSubs {
    binding: Arc<ModelBinding>,
    stats: Arc<Stats>,
    rows: HashMap<i64, Vec<RowSub>>,
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
        let subs = self.rows.entry(pk).or_default();
        subs.retain(|s| !(s.conn.id == conn.id && s.key == key));
        self.by_conn.entry(conn.id).or_default().insert(pk);
        subs.push(RowSub { conn, key, event });
    }

    pub(super) fn remove(&mut self, conn: ConnId, pick: &impl Fn(&SubKey, &EventName) -> bool) -> usize {
        let Some(pks) = self.by_conn.remove(&conn) else { return 0 };
        let mut removed = 0;
        let mut kept = HashSet::new();
        for pk in pks {
            let Some(subs) = self.rows.get_mut(&pk) else { continue };
            subs.retain(|s| {
                if s.conn.id != conn {
                    true
                } else if pick(&s.key, &s.event) {
                    s.conn.forget(&s.key);
                    removed += 1;
                    false
                } else {
                    kept.insert(pk);
                    true
                }
            });
            if subs.is_empty() {
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
        let Some(subs) = self.rows.get(&change.pk) else { return Vec::new() };
        let deleted = change.kind == ChangeKind::Deleted;
        let payload = match (&change.new, deleted) {
            (Some(row), false) => render_row(&self.binding, row),
            _ => json!({"id": change.pk, "deleted": true}),
        };
        let mut frames = FrameCache::new(&self.stats, |event| encode_reply(event, &payload));
        let mut gone = Vec::new();
        for sub in subs {
            let event = if deleted { sub.event.with_action("delete") } else { sub.event.clone() };
            if !frames.deliver(&sub.conn, &event.to_string()) {
                gone.push(sub.conn.id);
            }
        }
        if deleted {
            // A deleted row has nothing left to watch.
            for sub in self.rows.remove(&change.pk).unwrap_or_default() {
                sub.conn.forget(&sub.key);
                if let Some(pks) = self.by_conn.get_mut(&sub.conn.id) {
                    pks.remove(&change.pk);
                }
            }
        }
        gone
    }
}
