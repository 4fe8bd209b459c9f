//! Change feeds (`subscribe`): `created`, `updated` and `deleted` events over the rows a
//! filter covers, following set membership.
//!
//! A feed whose rows show relations pushes each row with them, read when its change arrives
//! (in order, through [`expanded::Pipeline`]); and when a related row changes, it pushes
//! `updated` for each of its rows that shows it (at most `max_list_size` of them).

mod expanded;

pub(crate) use expanded::Pushes;

use std::sync::Arc;

use ractor::ActorRef;
use serde_json::{json, Value};

use super::verdicts::{Side, Verdicts};
use super::{FrameCache, Slot, StreamMsg};
use crate::binding::ModelBinding;
use crate::change::{Change, ChangeKind};
use crate::expand::Relations;
use crate::filter::Filter;
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::permission::View;
use crate::protocol::{encode_reply, EventName};
use crate::render::RowView;
use crate::stats::Stats;
use expanded::{Env, Pipeline, Target, Work};

struct FeedSub {
    conn: ConnHandle,
    key: SubKey,
    event: EventName,
    filter: Filter,
    view: Arc<View>,
    relations: Relations,
    /// Its relations show rows of other streams.
    related: bool,
}

/// The stream's change feeds.
pub(super) struct Feeds {
    binding: Arc<ModelBinding>,
    stats: Arc<Stats>,
    subs: Vec<FeedSub>,
    /// How many subs hear other streams' changes.
    related: usize,
    env: Env,
    pipeline: Pipeline,
}

impl Feeds {
    pub(super) fn new(
        binding: Arc<ModelBinding>,
        stats: Arc<Stats>,
        store: Arc<dyn crate::store::Store>,
        refreshes: Arc<tokio::sync::Semaphore>,
        max_rows: usize,
    ) -> Self {
        Feeds {
            env: Env {
                binding: Arc::clone(&binding),
                store,
                refreshes,
                max_rows,
            },
            binding,
            stats,
            subs: Vec::new(),
            related: 0,
            pipeline: Pipeline::default(),
        }
    }

    /// Whether a feed here hears other streams' changes.
    pub(super) fn holds_related(&self) -> bool {
        self.related > 0
    }

    pub(super) fn watch(
        &mut self,
        conn: ConnHandle,
        key: SubKey,
        event: EventName,
        filter: Filter,
        view: Arc<View>,
        relations: Relations,
    ) {
        let related = relations
            .streams()
            .iter()
            .any(|s| s != self.binding.stream());
        self.related += usize::from(related);
        self.subs.push(FeedSub {
            conn,
            key,
            event,
            filter,
            view,
            relations,
            related,
        });
    }

    /// Whether no feed is open.
    pub(super) fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// How many feeds are open.
    pub(super) fn len(&self) -> usize {
        self.subs.len()
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
        let related = &mut self.related;
        self.subs.retain(|s| {
            let drop = s.conn.id == conn && pick(&s.key, &s.event);
            if drop && slot == Slot::Free {
                s.conn.forget(&s.key);
            }
            if drop && s.related {
                *related -= 1;
            }
            !drop
        });
        before - self.subs.len()
    }

    /// Reports the change to each feed it concerns: a row entering a feed's filter is
    /// `created` there, one leaving it `deleted`, and an update only to feeds that can see a
    /// field it changed. A feed whose filter follows relations is judged by `verdicts` (the
    /// related rows as stored now), and skips a change they could not judge. Feeds that
    /// expand relations get theirs once the relations are read; and those that show rows of
    /// the stream through a relation to itself get what the change shows there. Returns
    /// connections whose queue refused; adds the pushes queued now to `pushes`.
    pub(super) fn apply(
        &mut self,
        myself: &ActorRef<StreamMsg>,
        change: &Arc<Change>,
        verdicts: &Verdicts,
        pushes: &mut u64,
    ) -> Vec<ConnId> {
        if self.subs.is_empty() {
            return Vec::new();
        }
        // Feeds with relations: those shown the row, and those told it went.
        let (mut shown, mut went): (Vec<Target>, Vec<Target>) = (Vec::new(), Vec::new());
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
            let event = sub.event.with_action(kind).to_string();
            if !sub.relations.is_empty() {
                let list = if kind == "deleted" {
                    &mut went
                } else {
                    &mut shown
                };
                list.push(target(sub, event));
                continue;
            }
            // Feed events are never merged: each says what happened to a row.
            if frames.deliver(&sub.conn, &event, &sub.view, None) {
                *pushes += 1;
            } else {
                gone.push(sub.conn.id);
            }
        }
        drop((created, updated, deleted));
        for (targets, row) in [(shown, change.new.clone()), (went, None)] {
            if !targets.is_empty() {
                let work = Work::Row {
                    pk: change.pk.clone(),
                    row,
                };
                self.pipeline.start(myself, &self.env, work, targets);
            }
        }
        self.apply_related(myself, change);
        gone
    }

    /// Starts the `updated` pushes a change of a row of `change.stream` causes in the feeds
    /// whose relations show rows of that stream.
    pub(super) fn apply_related(&mut self, myself: &ActorRef<StreamMsg>, change: &Arc<Change>) {
        let targets: Vec<Target> = self
            .subs
            .iter()
            .filter(|s| s.relations.shows(&change.stream))
            .map(|s| target(s, s.event.with_action("updated").to_string()))
            .collect();
        if !targets.is_empty() {
            let work = Work::Related(Arc::clone(change));
            self.pipeline.start(myself, &self.env, work, targets);
        }
    }

    /// Queues the pushes now due, in the order of their changes, on the feeds still open;
    /// returns connections whose queue refused.
    pub(super) fn rendered(&mut self, seq: u64, pushes: Pushes) -> Vec<ConnId> {
        let mut gone = Vec::new();
        for (conn, key, frame) in self.pipeline.finished(seq, pushes) {
            let Some(sub) = self.subs.iter().find(|s| s.conn.id == conn && s.key == key) else {
                continue;
            };
            self.stats.encoded();
            let ok = sub.conn.out.send(frame);
            self.stats.delivered(ok);
            if !ok {
                gone.push(conn);
            }
        }
        gone
    }
}

fn target(sub: &FeedSub, event: String) -> Target {
    Target {
        conn: sub.conn.id,
        key: sub.key.clone(),
        event,
        relations: sub.relations.clone(),
        view: Arc::clone(&sub.view),
        filter: sub.filter.clone(),
    }
}
