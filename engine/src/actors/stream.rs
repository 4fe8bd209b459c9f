//! A stream's actor: it holds the stream's subscriptions and turns each committed change into
//! the pushes docs/protocol.md section 3 describes.
//!
//! Three kinds of subscription live here, each in its own module: rows watched by `retrieve`
//! (`rows`), live `search` and `list` queries (`queries`), and change feeds made by
//! `subscribe` (`feed`). Every push is encoded once per distinct event and the same bytes
//! are queued on every connection that wants them.

mod feed;
mod interest;
mod queries;
mod rows;
mod verdicts;

pub use interest::Interest;

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::Instrument;

use crate::binding::ModelBinding;
use crate::change::Change;
use crate::expand::{Relations, Watch};
use crate::filter::Filter;
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::permission::View;
use crate::protocol::{EventName, Frame};
use crate::query::{Fresh, QuerySpec};
use crate::stats::Stats;
use crate::store::{Store, StoreError, StoreOutput};

/// Messages to a stream actor.
pub enum StreamMsg {
    /// Registers a `retrieve` subscription of `conn` to the row `key.pk`, under `event`.
    /// A second one with the same key replaces the first.
    WatchRow {
        /// The connection.
        conn: ConnHandle,
        /// The subscription's key (its `pk` is set).
        key: SubKey,
        /// The retrieve event, hash included, pushes are named after.
        event: EventName,
        /// What the subscriber may see: pushes are rendered through it, and a row leaving its
        /// scope is pushed as deleted.
        view: Arc<View>,
    },
    /// Registers a live `search` or `list`. Its pushes wait until the request's own reply has
    /// gone out through [`StreamMsg::Snapshot`].
    WatchQuery {
        /// The connection.
        conn: ConnHandle,
        /// The subscription's key (the request's event).
        key: SubKey,
        /// The event pushes are named after.
        event: EventName,
        /// The query.
        spec: Arc<QuerySpec>,
    },
    /// Queues the reply of a live query's request, in order with the query's pushes.
    Snapshot {
        /// The connection.
        conn: ConnHandle,
        /// The subscription's key.
        key: SubKey,
        /// The encoded reply.
        frame: Frame,
        /// The reply's data, the baseline for the subscriber's next push.
        data: Arc<serde_json::Value>,
        /// The related rows the reply shows.
        watch: Watch,
    },
    /// Registers a change feed (`subscribe`) over the rows matching `filter`.
    WatchFeed {
        /// The connection.
        conn: ConnHandle,
        /// The subscription's key (the `subscribe` event).
        key: SubKey,
        /// The `subscribe` event; pushes are `created`, `updated`, `deleted` with its hash.
        event: EventName,
        /// The rows the feed covers, the subscriber's scope included.
        filter: Filter,
        /// What the subscriber may see.
        view: Arc<View>,
        /// The relations its rows show.
        relations: Relations,
    },
    /// Drops the connection's subscriptions on this stream made under `hash`, or all of them
    /// when `hash` is `None`; answers how many went.
    Unsubscribe {
        /// The connection.
        conn: ConnId,
        /// The hash whose subscriptions go, or `None` for all.
        hash: Option<String>,
        /// Where the count goes.
        reply: RpcReplyPort<usize>,
    },
    /// Drops one subscription (its request failed).
    Forget {
        /// The connection.
        conn: ConnId,
        /// The subscription.
        key: SubKey,
    },
    /// Drops everything the connection held here (it closed).
    Disconnect(ConnId),
    /// A committed change to one of this stream's rows, and the span it was published in
    /// (a write's request span; none when no subscriber wants it), its fan-out's parent.
    Change(Arc<Change>, tracing::Span),
    /// A committed change to a row of another stream (see
    /// [`crate::engine::Engine::publish`]), which subscriptions here may show through a
    /// relation or whose filters and scopes read it: live queries reading it are re-read,
    /// feeds showing it are pushed, and watched rows whose scope reads it are checked
    /// against that scope.
    Related(Arc<Change>),
    /// Re-reads every live query and every watched row and pushes what changed, because
    /// changes may have gone unseen (the capture listener lost its connection).
    Refresh,
    /// The rows a [`StreamMsg::Refresh`] re-read: `None` when the row is gone.
    RowsRead(Vec<(crate::key::Key, Option<crate::value::Row>)>),
    /// A feed push that needed a read is ready; pushes are released in the order of their
    /// changes.
    FeedRendered {
        /// The push's number in the feeds' order.
        seq: u64,
        /// The frames, by subscriber.
        pushes: feed::Pushes,
    },
    /// A live query's refresh finished.
    Refreshed {
        /// The query.
        query: u64,
        /// What the read found.
        result: Result<Option<Fresh>, StoreError>,
    },
}

impl StreamMsg {
    /// Whether the message registers a subscription, which its sender announces to the
    /// stream's [`Interest`] first.
    pub fn is_subscription(&self) -> bool {
        matches!(
            self,
            StreamMsg::WatchRow { .. } | StreamMsg::WatchQuery { .. } | StreamMsg::WatchFeed { .. }
        )
    }

    /// Whether the message registers a subscription that hears other streams' changes, which
    /// its sender announces to the stream's related [`Interest`] first: from then until the
    /// actor holds it, those streams' changes are routed here.
    pub fn announces_related(&self) -> bool {
        match self {
            StreamMsg::WatchQuery { spec, .. } => !spec.related_streams().is_empty(),
            StreamMsg::WatchFeed { key, relations, .. } => {
                relations.streams().iter().any(|s| *s != key.stream)
            }
            _ => false,
        }
    }
}

/// The actor.
pub struct StreamActor;

/// What a stream actor starts with.
pub struct StreamArgs {
    /// The stream's binding.
    pub binding: Arc<ModelBinding>,
    /// The store live queries are re-read from.
    pub store: Arc<dyn Store>,
    /// The engine's counters.
    pub stats: Arc<Stats>,
    /// The stream's gauges: subscriptions, live queries, refreshes.
    pub gauges: crate::metrics::StreamGauges,
    /// Whether the stream has subscribers, kept up to date by the actor.
    pub interest: Arc<Interest>,
    /// Whether the stream has subscriptions that hear other streams' changes.
    pub related_interest: Arc<Interest>,
    /// The server-wide budget of live-query refreshes running at once.
    pub refreshes: Arc<tokio::sync::Semaphore>,
    /// The most rows a change of a related row re-pushes to one change feed
    /// (`max_list_size`).
    pub max_related_rows: usize,
}

/// The stream's subscriptions.
pub struct StreamState {
    binding: Arc<ModelBinding>,
    interest: Arc<Interest>,
    related_interest: Arc<Interest>,
    store: Arc<dyn Store>,
    rows: rows::RowSubs,
    queries: queries::LiveQueries,
    feeds: feed::Feeds,
    gauges: crate::metrics::StreamGauges,
}

impl Actor for StreamActor {
    type Msg = StreamMsg;
    type State = StreamState;
    type Arguments = StreamArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<StreamMsg>,
        args: StreamArgs,
    ) -> Result<StreamState, ActorProcessingErr> {
        Ok(StreamState {
            binding: Arc::clone(&args.binding),
            interest: args.interest,
            related_interest: args.related_interest,
            store: Arc::clone(&args.store),
            rows: rows::RowSubs::new(Arc::clone(&args.binding), Arc::clone(&args.stats)),
            queries: queries::LiveQueries::new(
                Arc::clone(&args.store),
                Arc::clone(&args.stats),
                Arc::clone(&args.refreshes),
                args.gauges.clone(),
            ),
            gauges: args.gauges,
            feeds: feed::Feeds::new(
                args.binding,
                args.stats,
                args.store,
                args.refreshes,
                args.max_related_rows,
            ),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<StreamMsg>,
        msg: StreamMsg,
        state: &mut StreamState,
    ) -> Result<(), ActorProcessingErr> {
        let announced = msg.is_subscription();
        let announced_related = msg.announces_related();
        match msg {
            StreamMsg::WatchRow {
                conn,
                key,
                event,
                view,
            } => {
                if state.rows.watch(conn, key, event, view) {
                    state.gauges.subscriptions.inc();
                }
            }
            StreamMsg::WatchQuery {
                conn,
                key,
                event,
                spec,
            } => {
                state.replace(conn.id, &key);
                state.queries.watch(conn, key, event, spec);
                state.gauges.subscriptions.inc();
            }
            StreamMsg::Snapshot {
                conn,
                key,
                frame,
                data,
                watch,
            } => state
                .queries
                .snapshot(&myself, &conn, &key, frame, data, &watch),
            StreamMsg::WatchFeed {
                conn,
                key,
                event,
                filter,
                view,
                relations,
            } => {
                state.replace(conn.id, &key);
                state.feeds.watch(conn, key, event, filter, view, relations);
                state.gauges.subscriptions.inc();
            }
            StreamMsg::Unsubscribe { conn, hash, reply } => {
                let removed = state.remove(conn, |_, event| {
                    hash.is_none() || event.hash() == hash.as_deref()
                });
                let _ = reply.send(removed);
            }
            StreamMsg::Forget { conn, key } => {
                state.remove(conn, |k, _| *k == key);
            }
            StreamMsg::Disconnect(conn) => {
                state.remove(conn, |_, _| true);
            }
            StreamMsg::Change(change, cause) => {
                let span = crate::trace::fanout_span(&cause, state.binding.stream());
                drop(cause);
                let fanout = async {
                    let verdicts = state.judge(&change).await;
                    let mut pushes = 0;
                    let mut gone = state.rows.apply(&change, &verdicts, &mut pushes);
                    gone.extend(state.feeds.apply(&myself, &change, &verdicts, &mut pushes));
                    let touched = state.queries.touch(&myself, &change);
                    let span = tracing::Span::current();
                    if !span.is_disabled() {
                        // Subscribers the change was checked against; live queries it touched
                        // are re-read and push later, each re-read a store call of its own.
                        let subscribers = state.rows.watchers(&change.pk)
                            + state.feeds.len()
                            + state.queries.subscribers();
                        span.record("subscribers", subscribers);
                        span.record("pushes", pushes);
                        span.record("queries_touched", touched);
                    }
                    for conn in gone {
                        state.remove(conn, |_, _| true);
                    }
                };
                fanout.instrument(span).await;
            }
            StreamMsg::Related(change) => {
                state.queries.touch_related(&myself, &change);
                // A change of this stream's own rows was shown to the feeds with the change.
                if change.stream != state.binding.stream() {
                    state.feeds.apply_related(&myself, &change);
                }
                for conn in state.recheck_rows(&change.stream).await {
                    state.remove(conn, |_, _| true);
                }
            }
            StreamMsg::FeedRendered { seq, pushes } => {
                for conn in state.feeds.rendered(seq, pushes) {
                    state.remove(conn, |_, _| true);
                }
            }
            StreamMsg::Refresh => {
                state.queries.refresh_all(&myself);
                state.reread_rows(&myself);
            }
            StreamMsg::RowsRead(rows) => {
                let mut gone = Vec::new();
                for (pk, row) in rows {
                    // Only the row's watchers: feeds cannot tell what changed without the old
                    // row, and live queries were re-read by the same refresh.
                    let change = crate::capture::change_for(&state.binding, pk, false, row);
                    let verdicts = state.judge(&change).await;
                    gone.extend(state.rows.apply(&change, &verdicts, &mut 0));
                }
                for conn in gone {
                    state.remove(conn, |_, _| true);
                }
            }
            StreamMsg::Refreshed { query, result } => {
                for conn in state.queries.refreshed(&myself, query, result) {
                    state.remove(conn, |_, _| true);
                }
            }
        }
        state
            .gauges
            .live_queries
            .set(i64::try_from(state.queries.len()).unwrap_or(i64::MAX));
        let holds = !(state.rows.is_empty() && state.queries.is_empty() && state.feeds.is_empty());
        state.interest.settle(holds, announced);
        let holds_related = state.queries.holds_related() || state.feeds.holds_related();
        state
            .related_interest
            .settle(holds_related, announced_related);
        Ok(())
    }
}

impl StreamState {
    /// The store's answers for the filters through relations that `change` must be judged by
    /// (see [`verdicts`]); none, and no store call, when no subscription here has one.
    async fn judge(&self, change: &Change) -> verdicts::Verdicts {
        let mut filters = self.rows.path_scopes(&change.pk);
        filters.extend(self.feeds.path_filters());
        if filters.is_empty() {
            return verdicts::Verdicts::none();
        }
        verdicts::Verdicts::judge(&self.store, &self.binding, change, filters).await
    }

    /// After a change of `stream`: every watched row whose scope reads `stream` through
    /// relations is read again inside that scope (one search per scope), and those no longer
    /// in it are pushed as deleted. Returns connections whose queue refused.
    async fn recheck_rows(&mut self, stream: &str) -> Vec<ConnId> {
        let mut gone = Vec::new();
        for (scope, pks) in self.rows.scopes_through(stream) {
            let op = crate::store::StoreOp::Search {
                binding: Arc::clone(&self.binding),
                filter: Filter::pks(&self.binding, &pks).and(scope.clone()),
                order: crate::filter::Ordering::by_pk(&self.binding),
                offset: 0,
                limit: pks.len() as u64,
            };
            let found: Vec<crate::key::Key> = match verdicts::execute(&self.store, op).await {
                Ok(StoreOutput::Page { rows, .. }) => {
                    rows.iter().filter_map(|r| self.binding.key_of(r)).collect()
                }
                // Unsure is not gone: the watch stays, and the row's next change decides.
                other => {
                    tracing::warn!(result = ?other.err(), "cannot re-check watched rows");
                    continue;
                }
            };
            for pk in pks.iter().filter(|pk| !found.contains(pk)) {
                gone.extend(self.rows.leave(pk, &scope));
            }
        }
        gone
    }

    /// Reads every watched row in a task and sends them back as [`StreamMsg::RowsRead`].
    fn reread_rows(&self, myself: &ActorRef<StreamMsg>) {
        let pks = self.rows.pks();
        if pks.is_empty() {
            return;
        }
        let (binding, store, myself) = (
            Arc::clone(&self.binding),
            Arc::clone(&self.store),
            myself.clone(),
        );
        let read = async move {
            let mut rows = Vec::with_capacity(pks.len());
            for pk in pks {
                let op = crate::store::StoreOp::Get {
                    binding: Arc::clone(&binding),
                    pk: pk.clone(),
                    scope: Filter::everything(),
                };
                match store.execute(op).await {
                    Ok(StoreOutput::Row(row)) => rows.push((pk, row)),
                    // A failed read pushes nothing: a wrong delete would end the watch.
                    other => {
                        tracing::warn!(%pk, result = ?other.err(), "cannot re-read a watched row")
                    }
                }
            }
            let _ = myself.send_message(StreamMsg::RowsRead(rows));
        };
        if self.store.is_blocking() {
            tokio::task::spawn_blocking(move || futures_executor::block_on(read));
        } else {
            tokio::spawn(read);
        }
    }

    /// Removes the connection's subscriptions that `pick` selects, from every kind; returns
    /// how many went.
    fn remove(&mut self, conn: ConnId, pick: impl Fn(&SubKey, &EventName) -> bool) -> usize {
        self.remove_as(conn, pick, Slot::Free)
    }

    /// Drops the connection's subscription `key` because a new one of the same key replaces
    /// it: the slot it held against `max_subscriptions` passes to the new one, so it is never
    /// free for a moment in which another request could take it.
    fn replace(&mut self, conn: ConnId, key: &SubKey) {
        self.remove_as(conn, |k, _| k == key, Slot::Keep);
    }

    fn remove_as(
        &mut self,
        conn: ConnId,
        pick: impl Fn(&SubKey, &EventName) -> bool,
        slot: Slot,
    ) -> usize {
        let removed = self.rows.remove(conn, &pick, slot)
            + self.queries.remove(conn, &pick, slot)
            + self.feeds.remove(conn, &pick, slot);
        self.gauges
            .subscriptions
            .dec_by(i64::try_from(removed).unwrap_or(i64::MAX));
        removed
    }
}

/// Whether removing a subscription frees its slot in the connection's count
/// ([`ConnHandle::subs`], which `max_subscriptions` is checked against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The subscription is gone: its slot is free.
    Free,
    /// A new subscription of the same key takes its place, and its slot.
    Keep,
}

/// Renders and encodes a push for an event as a view sees it.
type Encoder<'a> = dyn Fn(&str, &View) -> Frame + 'a;

/// Whether `change` is an update that shows nothing new to a reader with `view`, who saw the
/// row before it and still sees it after: only fields hidden from the reader changed. Such a
/// change is not pushed to that reader. A change captured without its old row may have
/// changed anything, so it is always shown.
pub(crate) fn unseen(
    binding: &ModelBinding,
    change: &Change,
    view: &View,
    verdicts: &verdicts::Verdicts,
) -> bool {
    use verdicts::Side;
    match (&change.kind, &change.old, &change.new) {
        (crate::change::ChangeKind::Updated, Some(old), Some(new)) => {
            verdicts.matches(view.scope(), Side::Old, old) == Some(true)
                && verdicts.matches(view.scope(), Side::New, new) == Some(true)
                && !crate::render::changes_visibly(binding, old, new, view)
        }
        _ => false,
    }
}

/// Encodes each distinct (event, view) once and queues the bytes: the cache the fan-out of
/// one change shares.
pub(crate) struct FrameCache<'a> {
    frames: HashMap<(String, String), Frame>,
    encode: Box<Encoder<'a>>,
    stats: &'a Stats,
}

impl<'a> FrameCache<'a> {
    pub(crate) fn new(stats: &'a Stats, encode: impl Fn(&str, &View) -> Frame + 'a) -> Self {
        FrameCache {
            frames: HashMap::new(),
            encode: Box::new(encode),
            stats,
        }
    }

    /// Queues `event`'s frame, rendered for `view`, on `conn`, as a push superseding the
    /// earlier ones of the subscription `supersedes` when there is one; `false` when its
    /// queue refused.
    pub(crate) fn deliver(
        &mut self,
        conn: &ConnHandle,
        event: &str,
        view: &View,
        supersedes: Option<&Arc<SubKey>>,
    ) -> bool {
        self.deliver_measured(conn, event, view, supersedes).0
    }

    /// [`deliver`](Self::deliver), also returning the frame's size in bytes.
    pub(crate) fn deliver_measured(
        &mut self,
        conn: &ConnHandle,
        event: &str,
        view: &View,
        supersedes: Option<&Arc<SubKey>>,
    ) -> (bool, usize) {
        let key = (event.to_owned(), view.signature().to_owned());
        let frame = match self.frames.get(&key) {
            Some(frame) => frame.clone(),
            None => {
                let frame = (self.encode)(event, view);
                self.stats.encoded();
                self.frames.insert(key, frame.clone());
                frame
            }
        };
        let len = frame.len();
        let ok = match supersedes {
            Some(key) => conn.out.push(frame, key),
            None => conn.out.send(frame),
        };
        self.stats.delivered(ok);
        (ok, len)
    }
}
