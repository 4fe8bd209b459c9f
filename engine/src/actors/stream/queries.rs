//! Live `search` and `list` queries.
//!
//! Identical queries are held once, with all their subscribers. A change that matches a
//! query's filter before or after the write marks it dirty; a dirty query is re-read from the
//! store in a task and its fresh result pushed to every subscriber, encoded once per event. A
//! change arriving while a re-read is in flight causes one more re-read after it, so bursts
//! coalesce and the last push always shows the latest committed state. Refreshes of every
//! stream share `refresh_concurrency` permits: the rest wait, still coalescing, so live
//! queries never hold more store connections than that.
//!
//! No gap: a subscriber is registered before its request reads the snapshot, and its pushes
//! are held back until the snapshot itself has been queued through [`LiveQueries::snapshot`].
//! If a change touched the query in between, the query is re-read once more after the
//! snapshot, so the snapshot can never be the stale last word.
//!
//! A query whose filter follows relations cannot tell from a changed row alone whether the row
//! is in its result (the related row decides), so every change of its stream touches it; and a
//! change of a stream it reads through relations ([`QuerySpec::related_streams`]) touches it
//! too ([`LiveQueries::touch_related`]).
//!
//! Relations: a query whose rows show related rows (`expand`, `include`) also hears the
//! changes of those streams ([`LiveQueries::touch_related`]). Its last result's [`Watch`]
//! says which of them can change it; while a read is in flight or a subscriber waits for its
//! snapshot, whose rows are not known yet, every change of a related stream counts.
//! A `retrieve` with relations is a query of [`Shape::Row`]: its row gone or out of scope,
//! it pushes `delete` and ends.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ractor::ActorRef;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::verdicts::Verdicts;
use super::{FrameCache, Slot, StreamMsg};
use crate::change::{Change, ChangeKind};
use crate::expand::Watch;
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::protocol::{encode_error, encode_reply, ApiError, ErrorCode, EventName, Frame};
use crate::query::{Fresh, QuerySpec, Shape};
use crate::stats::Stats;
use crate::store::{Store, StoreError};

struct QuerySub {
    conn: ConnHandle,
    key: Arc<SubKey>,
    event: EventName,
    /// The request's own reply has not gone out yet; pushes wait for it.
    pending: bool,
    /// A change touched the query while this subscriber was pending.
    missed: bool,
    /// The result this subscriber last received, so an unchanged result is not pushed again.
    last: Option<Arc<Value>>,
    /// The size of that result's frame, charged to the connection's `max_subscription_bytes`.
    held: usize,
}

struct LiveQuery {
    spec: Arc<QuerySpec>,
    /// The filter follows relations: a changed row alone cannot say whether it matches.
    own_paths: bool,
    subs: Vec<QuerySub>,
    in_flight: bool,
    dirty: bool,
    /// The other streams whose changes may change the result ([`QuerySpec::related_streams`]).
    related: BTreeSet<String>,
    /// Those of them its filter and order cross: every change there touches it.
    paths: BTreeSet<String>,
    /// The related rows its subscribers' results show.
    watch: Watch,
}

impl LiveQuery {
    /// Whether what its subscribers hold may show rows no [`Watch`] records yet: a read is
    /// in flight, or a snapshot is still being read.
    fn unsettled(&self) -> bool {
        self.in_flight || self.subs.iter().any(|s| s.pending)
    }

    fn mark_missed(&mut self) {
        for sub in self.subs.iter_mut().filter(|s| s.pending) {
            sub.missed = true;
        }
    }
}

/// The stream's live queries.
pub(super) struct LiveQueries {
    store: Arc<dyn Store>,
    /// Permits to run a refresh, shared by every stream (`refresh_concurrency`).
    refreshes: Arc<Semaphore>,
    stats: Arc<Stats>,
    queries: HashMap<u64, LiveQuery>,
    by_signature: HashMap<String, u64>,
    next_id: u64,
    /// How many queries have related streams, for [`LiveQueries::holds_related`].
    related: usize,
    /// The refresh gauges.
    gauges: crate::metrics::StreamGauges,
}

impl LiveQueries {
    pub(super) fn new(
        store: Arc<dyn Store>,
        stats: Arc<Stats>,
        refreshes: Arc<Semaphore>,
        gauges: crate::metrics::StreamGauges,
    ) -> Self {
        LiveQueries {
            gauges,
            store,
            refreshes,
            stats,
            queries: HashMap::new(),
            by_signature: HashMap::new(),
            next_id: 1,
            related: 0,
        }
    }

    pub(super) fn watch(
        &mut self,
        conn: ConnHandle,
        key: SubKey,
        event: EventName,
        spec: Arc<QuerySpec>,
    ) {
        let signature = spec.signature();
        let id = *self.by_signature.entry(signature).or_insert_with(|| {
            let id = self.next_id;
            self.next_id += 1;
            id
        });
        let related = &mut self.related;
        let query = self.queries.entry(id).or_insert_with(|| {
            let streams = spec.related_streams();
            if !streams.is_empty() {
                *related += 1;
            }
            LiveQuery {
                related: streams,
                paths: spec.path_streams(),
                own_paths: spec.filter.has_paths(),
                spec,
                subs: Vec::new(),
                in_flight: false,
                dirty: false,
                watch: Watch::default(),
            }
        });
        query.subs.push(QuerySub {
            conn,
            key: Arc::new(key),
            event,
            pending: true,
            missed: false,
            last: None,
            held: 0,
        });
    }

    /// How many distinct live queries the stream holds.
    pub(super) fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether no query is live.
    pub(super) fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// How many subscribers the live queries have.
    pub(super) fn subscribers(&self) -> usize {
        self.queries.values().map(|q| q.subs.len()).sum()
    }

    /// Whether a live query here hears the changes of other streams.
    pub(super) fn holds_related(&self) -> bool {
        self.related > 0
    }

    /// Queues a request's reply and releases the subscriber's pushes.
    pub(super) fn snapshot(
        &mut self,
        myself: &ActorRef<StreamMsg>,
        conn: &ConnHandle,
        key: &SubKey,
        frame: Frame,
        data: Arc<Value>,
        watch: &Watch,
    ) {
        let found = self.queries.iter_mut().find_map(|(id, q)| {
            let sub = q
                .subs
                .iter_mut()
                .find(|s| s.conn.id == conn.id && *s.key == *key && s.pending)?;
            // Until the next refresh brings every subscriber to one result, the query
            // watches what each of them was shown.
            q.watch.merge(watch);
            Some((*id, sub))
        });
        let Some((id, sub)) = found else {
            // The subscription ended meanwhile; the reply still goes out.
            conn.out.send(frame);
            return;
        };
        let len = frame.len();
        if !conn.held.try_take(len) {
            // What this connection's live results would hold passes `max_subscription_bytes`:
            // the subscription is refused instead of answered, and its slot is free again,
            // before the client reads the refusal and may ask for another.
            let error = ApiError::new(
                ErrorCode::LimitExceeded,
                "this connection's live results would pass max_subscription_bytes",
            );
            self.remove(conn.id, &|k, _| k == key, Slot::Free);
            conn.out.send(encode_error(&key.event, &error));
            return;
        }
        conn.out.send(frame);
        sub.pending = false;
        sub.held = len;
        sub.last = Some(data);
        if std::mem::take(&mut sub.missed) {
            self.schedule(myself, id);
        }
    }

    pub(super) fn remove(
        &mut self,
        conn: ConnId,
        pick: &impl Fn(&SubKey, &EventName) -> bool,
        slot: Slot,
    ) -> usize {
        let mut removed = 0;
        let mut empty = Vec::new();
        for (id, q) in self.queries.iter_mut() {
            q.subs.retain(|s| {
                let drop = s.conn.id == conn && pick(&s.key, &s.event);
                if drop {
                    s.conn.held.release(s.held);
                    if slot == Slot::Free {
                        s.conn.forget(&s.key);
                    }
                    removed += 1;
                }
                !drop
            });
            if q.subs.is_empty() {
                empty.push(*id);
            }
        }
        for id in empty {
            self.drop_query(id);
        }
        removed
    }

    fn drop_query(&mut self, id: u64) {
        if let Some(q) = self.queries.remove(&id) {
            self.by_signature.remove(&q.spec.signature());
            if !q.related.is_empty() {
                self.related -= 1;
            }
        }
    }

    /// Marks every query the change can touch (its filter matches the old or the new row, and
    /// it changed a field the query's reader sees or moved the row in or out; or the query
    /// shows the row through a relation of the stream to itself).
    /// A change captured from outside has no old row (`old: None` on an update or delete):
    /// the row may have left any query, so it touches them all (a row's query only when it
    /// is that row). Returns how many queries it touched.
    pub(super) fn touch(&mut self, myself: &ActorRef<StreamMsg>, change: &Change) -> usize {
        let old_unknown = change.old.is_none() && change.kind != ChangeKind::Created;
        let touched: Vec<u64> = self
            .queries
            .iter_mut()
            .filter(|(_, q)| {
                if q.own_paths {
                    return true;
                }
                let f = &q.spec.filter;
                let was = change.old.as_ref().is_some_and(|r| f.matches(r));
                let is = change.new.as_ref().is_some_and(|r| f.matches(r));
                let maybe_was = old_unknown
                    && match &q.spec.shape {
                        Shape::Row { pk } => *pk == change.pk,
                        _ => true,
                    };
                // A row that stays in the result and changed only where the query's reader
                // cannot see leaves the result as it was: no re-read, no push.
                let unseen = was
                    && is
                    && super::unseen(&q.spec.binding, change, &q.spec.view, &Verdicts::none());
                let own = (maybe_was || was || is) && !unseen;
                own || q.watch.touches(change)
                    || (q.unsettled() && q.spec.relations.shows(&change.stream))
            })
            .map(|(id, q)| {
                q.mark_missed();
                *id
            })
            .collect();
        let count = touched.len();
        for id in touched {
            self.schedule(myself, id);
        }
        count
    }

    /// Marks every query that a change of another stream can touch: one whose filter or order
    /// crosses that stream, one whose result shows the changed row, and, while the rows its
    /// subscribers hold are not all known, any that shows rows of that stream.
    pub(super) fn touch_related(&mut self, myself: &ActorRef<StreamMsg>, change: &Change) {
        if self.related == 0 {
            return;
        }
        let touched: Vec<u64> = self
            .queries
            .iter_mut()
            .filter(|(_, q)| {
                q.related.contains(&change.stream)
                    && (q.paths.contains(&change.stream)
                        || q.unsettled()
                        || q.watch.touches(change))
            })
            .map(|(id, q)| {
                q.mark_missed();
                *id
            })
            .collect();
        for id in touched {
            self.schedule(myself, id);
        }
    }

    /// Re-reads every query (after notifications may have been lost); subscribers get a push
    /// only where the result differs from their last.
    pub(super) fn refresh_all(&mut self, myself: &ActorRef<StreamMsg>) {
        let ids: Vec<u64> = self.queries.keys().copied().collect();
        for id in ids {
            if let Some(q) = self.queries.get_mut(&id) {
                q.mark_missed();
            }
            self.schedule(myself, id);
        }
    }

    /// Re-reads the query now, or after the read in flight.
    fn schedule(&mut self, myself: &ActorRef<StreamMsg>, id: u64) {
        let Some(q) = self.queries.get_mut(&id) else {
            return;
        };
        if q.in_flight {
            q.dirty = true;
            return;
        }
        q.in_flight = true;
        q.dirty = false;
        let spec = Arc::clone(&q.spec);
        let store = Arc::clone(&self.store);
        let refreshes = Arc::clone(&self.refreshes);
        let myself = myself.clone();
        let span = crate::trace::refresh_span(spec.binding.stream());
        let read_span = span.clone();
        let (queued, running) = (
            self.gauges.refreshes_queued.clone(),
            self.gauges.refreshes_running.clone(),
        );
        queued.inc();
        // The query stays in flight while it waits for a permit, so changes meanwhile only
        // mark it dirty: it is queued once, however many writes touch it.
        let refresh = async move {
            let permit = refreshes.acquire_owned().await;
            queued.dec();
            let Ok(_permit) = permit else {
                return;
            };
            running.inc();
            let result = if store.is_blocking() {
                match tokio::task::spawn_blocking(move || {
                    read_span.in_scope(|| futures_executor::block_on(spec.read(&*store)))
                })
                .await
                {
                    Ok(result) => result,
                    Err(e) => Err(StoreError::Internal(format!("refresh task failed: {e}"))),
                }
            } else {
                spec.read(&*store).await
            };
            running.dec();
            let _ = myself.send_message(StreamMsg::Refreshed { query: id, result });
        };
        tokio::spawn(tracing::Instrument::instrument(refresh, span));
    }

    /// Pushes a fresh result to every released subscriber; returns connections whose queue
    /// refused it. A row's query whose row is gone pushes `delete` and ends.
    pub(super) fn refreshed(
        &mut self,
        myself: &ActorRef<StreamMsg>,
        id: u64,
        result: Result<Option<Fresh>, StoreError>,
    ) -> Vec<ConnId> {
        let Some(q) = self.queries.get_mut(&id) else {
            return Vec::new();
        };
        q.in_flight = false;
        let mut gone = Vec::new();
        match result {
            Ok(Some(fresh)) => {
                q.watch = fresh.watch;
                let data = Arc::new(fresh.data);
                let mut frames =
                    FrameCache::new(&self.stats, |event, _| encode_reply(event, &*data));
                // Subscribers mostly share their last result, so compare each distinct one once.
                let mut same: Option<(*const Value, bool)> = None;
                for sub in q.subs.iter_mut().filter(|s| !s.pending) {
                    let unchanged = match &sub.last {
                        Some(last) if same.is_some_and(|(p, _)| p == Arc::as_ptr(last)) => {
                            same.is_some_and(|(_, eq)| eq)
                        }
                        Some(last) => {
                            let eq = **last == *data;
                            same = Some((Arc::as_ptr(last), eq));
                            eq
                        }
                        None => false,
                    };
                    if unchanged {
                        continue;
                    }
                    sub.last = Some(Arc::clone(&data));
                    let (ok, len) = frames.deliver_measured(
                        &sub.conn,
                        &sub.event.to_string(),
                        &q.spec.view,
                        Some(&sub.key),
                    );
                    // A granted subscription keeps its pushes even when its result grows
                    // (at most to the page or list size); the bound applies to new ones.
                    sub.conn
                        .held
                        .replace(std::mem::replace(&mut sub.held, len), len);
                    if !ok {
                        gone.push(sub.conn.id);
                    }
                }
            }
            Ok(None) => {
                let pk = match &q.spec.shape {
                    Shape::Row { pk } => pk.clone(),
                    _ => {
                        tracing::warn!(query = id, "a page query answered no page");
                        return gone;
                    }
                };
                let payload = serde_json::json!({"id": pk, "deleted": true});
                let mut frames =
                    FrameCache::new(&self.stats, |event, _| encode_reply(event, &payload));
                q.subs.retain(|sub| {
                    if sub.pending {
                        return true;
                    }
                    let event = sub.event.with_action("delete").to_string();
                    if !frames.deliver(&sub.conn, &event, &q.spec.view, None) {
                        gone.push(sub.conn.id);
                    }
                    // The row has nothing left to watch.
                    sub.conn.held.release(sub.held);
                    sub.conn.forget(&sub.key);
                    false
                });
                let emptied = q.subs.is_empty();
                drop(frames);
                if emptied {
                    self.drop_query(id);
                    return gone;
                }
            }
            Err(e) => {
                // The store failed; the next change tries again. Subscribers keep their last
                // good result rather than an error push they cannot act on.
                tracing::warn!(query = id, error = %e, "live query refresh failed");
            }
        }
        if let Some(q) = self.queries.get_mut(&id) {
            if q.dirty {
                self.schedule(myself, id);
            }
        }
        gone
    }
}
