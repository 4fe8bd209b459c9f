//! Change feeds (`subscribe`): `created`, `updated` and `deleted` events over the rows a
//! filter covers, following set membership.

use std::sync::Arc;

use serde_json::{json, Value};

use super::verdicts::{Side, Verdicts};
use super::{FrameCache, Slot};
use crate::binding::ModelBinding;
use crate::change::{Change, ChangeKind};
use crate::filter::Filter;
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::permission::View;
use crate::protocol::{encode_reply, EventName};
use crate::session::RowView;
use crate::stats::Stats;

struct FeedSub {
    conn: ConnHandle,
    key: SubKey,
    event: EventName,
    filter: Filter,
    view: Arc<View>,
}

/// The stream's change feeds.
pub(super) struct Feeds {
    binding: Arc<ModelBinding>,
    stats: Arc<Stats>,
    subs: Vec<FeedSub>,
}

impl Feeds {
    pub(super) fn new(binding: Arc<ModelBinding>, stats: Arc<Stats>) -> Self {
        Feeds {
            binding,
            stats,
            subs: Vec::new(),
        }
    }

    pub(super) fn watch(
        &mut self,
        conn: ConnHandle,
        key: SubKey,
        event: EventName,
        filter: Filter,
        view: Arc<View>,
    ) {
        self.subs.push(FeedSub {
            conn,
            key,
            event,
            filter,
            view,
        });
    }

    /// Whether no feed is open.
    pub(super) fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// The feeds' filters that follow relations, which the store must judge before
    /// [`apply`](Self::apply).
    pub(super) fn path_filters(&self) -> Vec<Filter> {
        self.subs
            .iter()
            .map(|s| &s.filter)
            .filter(|f| f.has_paths())
            .cloned()
            .collect()
    }

    pub(super) fn remove(
        &mut self,
        conn: ConnId,
        pick: &impl Fn(&SubKey, &EventName) -> bool,
        slot: Slot,
    ) -> usize {
        let before = self.subs.len();
        self.subs.retain(|s| {
            let drop = s.conn.id == conn && pick(&s.key, &s.event);
            if drop && slot == Slot::Free {
                s.conn.forget(&s.key);
            }
            !drop
        });
        before - self.subs.len()
    }

    /// Reports the change to each feed it concerns: a row entering a feed's filter is
    /// `created` there, one leaving it `deleted`, and an update only to feeds that can see a
    /// field it changed. A feed whose filter follows relations is judged by `verdicts` (the
    /// related rows as stored now), and skips a change they could not judge.
    /// Returns connections whose queue refused.
    pub(super) fn apply(&mut self, change: &Change, verdicts: &Verdicts) -> Vec<ConnId> {
        if self.subs.is_empty() {
            return Vec::new();
        }
        let binding = &self.binding;
        let row = |event: &str, view: &View| match &change.new {
            Some(row) => encode_reply(event, &RowView { binding, row, view }),
            None => encode_reply(event, &Value::Null),
        };
        let gone_payload = json!({"id": change.pk});
        let mut created = FrameCache::new(&self.stats, row);
        let mut updated = FrameCache::new(&self.stats, row);
        let mut deleted = FrameCache::new(&self.stats, |e, _| encode_reply(e, &gone_payload));
        let mut gone = Vec::new();
        for sub in &self.subs {
            // Without the old row (a change captured from outside), an update or delete is
            // taken to have been in the feed: a spurious `deleted` for an id the client does
            // not hold is harmless, a missing one leaves it stale.
            let was = match &change.old {
                Some(r) => verdicts.matches(&sub.filter, Side::Old, r),
                None => Some(change.kind != ChangeKind::Created),
            };
            let is = match &change.new {
                Some(r) => verdicts.matches(&sub.filter, Side::New, r),
                None => Some(false),
            };
            let (Some(was), Some(is)) = (was, is) else {
                continue;
            };
            let (frames, kind) = match (was, is) {
                (false, true) => (&mut created, "created"),
                (true, true) if super::unseen(binding, change, &sub.view, verdicts) => continue,
                (true, true) => (&mut updated, "updated"),
                (true, false) => (&mut deleted, "deleted"),
                (false, false) => continue,
            };
            // Feed events are never merged: each says what happened to a row.
            if !frames.deliver(
                &sub.conn,
                &sub.event.with_action(kind).to_string(),
                &sub.view,
                None,
            ) {
                gone.push(sub.conn.id);
            }
        }
        gone
    }
}
