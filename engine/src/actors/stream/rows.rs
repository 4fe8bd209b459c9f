//! Rows watched by `retrieve`: the new row on every change, `delete` when it goes.
//!
//! Watchers of a row are grouped by their event text at subscription time, so a change costs
//! one encode per distinct event and then one queue push per watcher, with no per-watcher
//! hashing or formatting.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;

use super::verdicts::{Side, Verdicts};
use super::Slot;
use crate::binding::ModelBinding;
use crate::change::{Change, ChangeKind};
use crate::filter::Filter;
use crate::key::Key;
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::permission::View;
use crate::protocol::{encode_reply, EventName};
use crate::render::RowView;
use crate::stats::Stats;

/// The watchers of one row under one event and one view.
struct EventWatchers {
    event: EventName,
    view: Arc<View>,
    /// `<stream>.delete[#hash]`, precomputed.
    delete_event: String,
    /// Each watcher and its subscription, shared with the pushes it queues.
    watchers: Vec<(ConnHandle, Arc<SubKey>)>,
}

/// `retrieve` subscriptions by row and event text, and the rows each connection watches.
pub(super) struct RowSubs {
    binding: Arc<ModelBinding>,
    stats: Arc<Stats>,
    /// Row to watcher groups, keyed by event text and view signature.
    rows: HashMap<Key, BTreeMap<(String, String), EventWatchers>>,
    by_conn: HashMap<ConnId, HashSet<Key>>,
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

    /// Registers a watcher; `false` when it replaced one of the same key (or had no row).
    pub(super) fn watch(
        &mut self,
        conn: ConnHandle,
        key: SubKey,
        event: EventName,
        view: Arc<View>,
    ) -> bool {
        let Some(pk) = key.pk.clone() else {
            return false;
        };
        self.by_conn.entry(conn.id).or_default().insert(pk.clone());
        let group_key = (key.event.clone(), view.signature().to_owned());
        let group = self
            .rows
            .entry(pk)
            .or_default()
            .entry(group_key)
            .or_insert_with(|| EventWatchers {
                delete_event: event.with_action("delete").to_string(),
                event,
                view,
                watchers: Vec::new(),
            });
        let before = group.watchers.len();
        group
            .watchers
            .retain(|(c, k)| !(c.id == conn.id && **k == key));
        let added = group.watchers.len() == before;
        group.watchers.push((conn, Arc::new(key)));
        added
    }

    /// Whether no row is watched.
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many subscriptions watch the row `pk`.
    pub(super) fn watchers(&self, pk: &Key) -> usize {
        self.rows
            .get(pk)
            .map_or(0, |groups| groups.values().map(|g| g.watchers.len()).sum())
    }

    /// The watched rows' keys.
    pub(super) fn pks(&self) -> Vec<Key> {
        self.rows.keys().cloned().collect()
    }

    pub(super) fn remove(
        &mut self,
        conn: ConnId,
        pick: &impl Fn(&SubKey, &EventName) -> bool,
        slot: Slot,
    ) -> usize {
        let Some(pks) = self.by_conn.remove(&conn) else {
            return 0;
        };
        let mut removed = 0;
        let mut kept = HashSet::new();
        for pk in pks {
            let Some(groups) = self.rows.get_mut(&pk) else {
                continue;
            };
            for group in groups.values_mut() {
                let event = &group.event;
                group.watchers.retain(|(c, k)| {
                    if c.id != conn {
                        true
                    } else if pick(k, event) {
                        if slot == Slot::Free {
                            c.forget(k);
                        }
                        removed += 1;
                        false
                    } else {
                        kept.insert(pk.clone());
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

    /// The scopes of the row's watchers that follow relations, which the store must judge
    /// before [`apply`](Self::apply).
    pub(super) fn path_scopes(&self, pk: &Key) -> Vec<Filter> {
        self.rows.get(pk).map_or_else(Vec::new, |groups| {
            groups
                .values()
                .map(|g| g.view.scope())
                .filter(|scope| scope.has_paths())
                .cloned()
                .collect()
        })
    }

    /// Each scope whose relations read rows of `stream`, with the watched rows it covers: a
    /// change there may have moved them out of it.
    pub(super) fn scopes_through(&self, stream: &str) -> Vec<(Filter, Vec<Key>)> {
        let mut out: Vec<(Filter, Vec<Key>)> = Vec::new();
        for (pk, groups) in &self.rows {
            for group in groups.values() {
                let scope = group.view.scope();
                // Most scopes follow no relation; they cost no allocation here.
                if !scope.has_paths() || !scope.related_streams().contains(stream) {
                    continue;
                }
                match out.iter_mut().find(|(f, _)| f == scope) {
                    Some((_, pks)) => pks.push(pk.clone()),
                    None => out.push((scope.clone(), vec![pk.clone()])),
                }
            }
        }
        out
    }

    /// Pushes `delete` to the watchers of `pk` whose scope is `scope` and ends their watch:
    /// the row has left that scope. Returns connections whose queue refused the push.
    pub(super) fn leave(&mut self, pk: &Key, scope: &Filter) -> Vec<ConnId> {
        let Some(groups) = self.rows.get(pk) else {
            return Vec::new();
        };
        let ended: Vec<(String, String)> = groups
            .iter()
            .filter(|(_, g)| g.view.scope() == scope)
            .map(|(k, _)| k.clone())
            .collect();
        let gone_payload = json!({"id": pk, "deleted": true});
        let mut refused_by = Vec::new();
        let (mut delivered, mut refused) = (0u64, 0u64);
        for group_key in &ended {
            let group = &groups[group_key];
            let frame = encode_reply(&group.delete_event, &gone_payload);
            self.stats.encoded();
            for (conn, key) in &group.watchers {
                if conn.out.push(frame.clone(), key) {
                    delivered += 1;
                } else {
                    refused += 1;
                    refused_by.push(conn.id);
                }
            }
        }
        self.stats.delivered_many(delivered, refused);
        self.end(pk, ended);
        refused_by
    }

    /// Pushes the change to the row's watchers: the new row through each watcher's view, or
    /// `delete` when the row is gone or has left the view's scope (then the watch ends);
    /// nothing to a watcher who cannot see what changed, or whose scope follows relations
    /// that `verdicts` could not judge.
    /// Returns connections whose queue refused the push; adds the pushes queued to `pushes`.
    pub(super) fn apply(
        &mut self,
        change: &Change,
        verdicts: &Verdicts,
        pushes: &mut u64,
    ) -> Vec<ConnId> {
        let Some(groups) = self.rows.get_mut(&change.pk) else {
            return Vec::new();
        };
        let gone_payload = json!({"id": change.pk, "deleted": true});
        let mut refused_by = Vec::new();
        let (mut delivered, mut refused) = (0u64, 0u64);
        let mut ended = Vec::new();
        for (group_key, group) in groups.iter() {
            if super::unseen(&self.binding, change, &group.view, verdicts) {
                continue;
            }
            let visible = match &change.new {
                Some(row) if change.kind != ChangeKind::Deleted => {
                    match verdicts.matches(group.view.scope(), Side::New, row) {
                        Some(true) => Some(row),
                        Some(false) => None,
                        None => continue,
                    }
                }
                _ => None,
            };
            let frame = match visible {
                Some(row) => encode_reply(
                    &group_key.0,
                    &RowView {
                        binding: &self.binding,
                        row,
                        view: &group.view,
                    },
                ),
                None => {
                    ended.push(group_key.clone());
                    encode_reply(&group.delete_event, &gone_payload)
                }
            };
            self.stats.encoded();
            for (conn, key) in &group.watchers {
                if conn.out.push(frame.clone(), key) {
                    delivered += 1;
                } else {
                    refused += 1;
                    refused_by.push(conn.id);
                }
            }
        }
        self.stats.delivered_many(delivered, refused);
        *pushes += delivered;
        self.end(&change.pk, ended);
        refused_by
    }

    /// Ends the watch of the groups `ended` of the row `pk`: a row that is gone, or out of
    /// sight, has nothing left to watch.
    fn end(&mut self, pk: &Key, ended: Vec<(String, String)>) {
        let Some(groups) = self.rows.get_mut(pk) else {
            return;
        };
        for group_key in ended {
            let Some(group) = groups.remove(&group_key) else {
                continue;
            };
            for (conn, key) in group.watchers {
                conn.forget(&key);
                let still_watched = groups
                    .values()
                    .any(|g| g.watchers.iter().any(|(c, _)| c.id == conn.id));
                if !still_watched {
                    if let Some(pks) = self.by_conn.get_mut(&conn.id) {
                        pks.remove(pk);
                    }
                }
            }
        }
        if groups.is_empty() {
            self.rows.remove(pk);
        }
    }
}
