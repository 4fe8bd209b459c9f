//! The engine: the bindings, the store, the actors and the locks one server shares among all
//! its connections. Cheap to clone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

mod admit;
mod captured;
mod changed;
mod related;
mod remote;
mod users;

pub use admit::Admitted;
pub use changed::{ChangeSet, ChangedError};

use ractor::{Actor, ActorRef};
use serde_json::Value;

use crate::actors::stream::{Interest, StreamArgs};
use crate::actors::{GroupActor, GroupMsg, StreamActor, StreamMsg};
use crate::admission::Admission;
use crate::auth::{AuthError, Authenticator, Refusal, RequestHead, User};
use crate::binding::{Registry, RegistryError};
use crate::change::{Change, ChangeKind};
use crate::config::Limits;
use crate::layer::{ChangedRow, InProcess, Layer, LayerMessage};
use crate::locks::{Creates, RowLocks};
use crate::metrics::Metrics;
use crate::origin::AllowedOrigins;
use crate::protocol::{encode_reply, EventName};
use crate::rate::RateLimits;
use crate::stats::{Stats, StatsSnapshot};
use crate::store::Store;

/// Why an engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The bindings are inconsistent.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The store cannot serve the bindings: a bound table or column is missing or of another
    /// shape ([`Store::check_schema`]).
    #[error(transparent)]
    Schema(#[from] crate::store::SchemaError),
    /// An actor failed to start (no tokio runtime, most likely).
    #[error("actor failed to start: {0}")]
    Spawn(String),
}

/// The shared core of a chanbind server. Adapters create one, open a
/// [`Session`](crate::session::Session) per
/// connection, and application code uses it to send to groups and to everyone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("streams", &self.inner.streams.keys().collect::<Vec<_>>())
            .field("store", &self.store_kind())
            .field("layer", &self.layer_kind())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) registry: Registry,
    pub(crate) limits: Limits,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) locks: RowLocks,
    /// Creates in flight, which updates and deletes publish after.
    pub(crate) creates: Creates,
    /// The live queries each signed-in user holds, against `max_live_queries_per_user`.
    pub(crate) live_budget: Arc<crate::live::UserBudget>,
    pub(crate) stats: Arc<Stats>,
    /// The Prometheus metrics ([`crate::metrics`]).
    pub(crate) metrics: Metrics,
    pub(crate) streams: HashMap<String, ActorRef<StreamMsg>>,
    /// Whether each stream has subscribers here, by stream.
    pub(crate) interest: HashMap<String, Arc<Interest>>,
    /// Whether each stream has subscriptions here that hear other streams' changes.
    pub(crate) related_interest: HashMap<String, Arc<Interest>>,
    /// For each stream, the streams whose subscriptions may show its rows through relations
    /// or read them through filters and scopes ([`related::dependents`]): its changes go to
    /// their actors too.
    pub(crate) dependents: HashMap<String, Vec<String>>,
    pub(crate) groups: HashMap<String, ActorRef<GroupMsg>>,
    /// The tokio runtime the engine was started on, whose timers and actors its futures use.
    runtime: Option<tokio::runtime::Handle>,
    pub(crate) everyone: ActorRef<GroupMsg>,
    layer: Arc<dyn Layer>,
    authenticators: Vec<Arc<dyn Authenticator>>,
    allow_anonymous: bool,
    next_conn: AtomicU64,
    pub(crate) origins: AllowedOrigins,
    pub(crate) admission: Arc<Admission>,
    pub(crate) rates: RateLimits,
    /// The request ids of recent writes and their answers (docs/protocol.md section 2).
    pub(crate) request_ids: Arc<crate::idempotency::RequestIds>,
    /// The WebSockets of each signed-in user, to disconnect or re-check them.
    pub(crate) identities: users::Identities,
    /// The readiness checks' state: the shared store probe and the listeners.
    pub(crate) health: crate::health::Health,
}

/// Builds an [`Engine`]: the bindings and the store, then optional limits and authentication.
pub struct EngineBuilder {
    registry: Registry,
    store: Arc<dyn Store>,
    limits: Limits,
    layer: Arc<dyn Layer>,
    authenticators: Vec<Arc<dyn Authenticator>>,
    allow_anonymous: bool,
    origins: AllowedOrigins,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("limits", &self.limits)
            .field("authenticators", &self.authenticators.len())
            .field("allow_anonymous", &self.allow_anonymous)
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// The web pages that may connect from a browser, besides the server's own (default:
    /// [`AllowedOrigins::same_origin`]). A WebSocket handshake from another page, or a write
    /// authenticated by the browser's cookie from another page, is refused with 403.
    pub fn allowed_origins(mut self, origins: AllowedOrigins) -> Self {
        self.origins = origins;
        self
    }

    /// The limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The channel layer that carries group sends, broadcasts and sends to a user to other
    /// nodes (default: [`InProcess`], which carries nothing).
    pub fn layer(mut self, layer: Arc<dyn Layer>) -> Self {
        self.layer = layer;
        self
    }

    /// Adds an authenticator; they run in the order added.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticators.push(Arc::new(authenticator));
        self
    }

    /// Whether requests that carry no credential may connect, as anonymous users (default:
    /// `false`). When `false`, adapters refuse them with HTTP 401 before any frame is
    /// exchanged, so an application that adds an authenticator and forgets this call stays
    /// closed rather than open. A request whose credential is present but wrong is refused
    /// either way. What an anonymous connection may then do is up to each binding's
    /// permission: a binding without one lets it do everything.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Checks the bindings, and the store's tables against them ([`Store::check_schema`]),
    /// then starts the actors on the current tokio runtime.
    pub async fn start(self) -> Result<Engine, EngineError> {
        Engine::spawn(self).await
    }
}

impl Engine {
    /// An engine with default limits, no authenticators and anonymous connections allowed
    /// (with nobody to recognise, everyone is anonymous): an open playground, for tests and
    /// demos. [`Engine::builder`] sets the rest, and refuses anonymous connections unless
    /// told otherwise.
    pub async fn start(
        registry: Registry,
        store: Arc<dyn Store>,
        limits: Limits,
    ) -> Result<Engine, EngineError> {
        Engine::builder(registry, store)
            .limits(limits)
            .allow_anonymous(true)
            .start()
            .await
    }

    /// Starts building an engine over these bindings and this store.
    pub fn builder(registry: Registry, store: Arc<dyn Store>) -> EngineBuilder {
        EngineBuilder {
            registry,
            store,
            limits: Limits::default(),
            layer: Arc::new(InProcess),
            authenticators: Vec::new(),
            allow_anonymous: false,
            origins: AllowedOrigins::default(),
        }
    }

    /// Starts one stream actor per model binding, one group actor per stream, and the group of
    /// all connections, on the current tokio runtime.
    async fn spawn(builder: EngineBuilder) -> Result<Engine, EngineError> {
        let EngineBuilder {
            registry,
            store,
            limits,
            layer,
            authenticators,
            allow_anonymous,
            origins,
        } = builder;
        registry.validate()?;
        store.check_schema(&registry).await?;
        let spawn_err = |e: ractor::SpawnErr| EngineError::Spawn(e.to_string());
        let stats = Arc::new(Stats::default());
        let metrics = Metrics::new(&registry, Arc::clone(&store), &stats);
        crate::metrics::spawn_sampler(Arc::clone(&store), metrics.sampled());
        // One budget of refreshes for every stream: live queries may hold at most this many
        // store connections at once, whatever the number of streams.
        let refreshes = Arc::new(tokio::sync::Semaphore::new(
            limits.refresh_concurrency.max(1),
        ));
        let mut streams = HashMap::new();
        let mut interest = HashMap::new();
        let mut related_interest = HashMap::new();
        let mut groups = HashMap::new();
        for binding in registry.models() {
            let watched = Arc::new(Interest::default());
            let related = Arc::new(Interest::default());
            let args = StreamArgs {
                binding: Arc::clone(binding),
                store: Arc::clone(&store),
                stats: Arc::clone(&stats),
                gauges: metrics.stream_gauges(binding.stream()),
                interest: Arc::clone(&watched),
                related_interest: Arc::clone(&related),
                refreshes: Arc::clone(&refreshes),
                max_related_rows: usize::try_from(limits.max_list_size).unwrap_or(usize::MAX),
            };
            let (stream, _) = Actor::spawn(None, StreamActor, args)
                .await
                .map_err(spawn_err)?;
            streams.insert(binding.stream().to_owned(), stream);
            interest.insert(binding.stream().to_owned(), watched);
            related_interest.insert(binding.stream().to_owned(), related);
        }
        for name in registry.streams() {
            let (group, _) = Actor::spawn(None, GroupActor, ())
                .await
                .map_err(spawn_err)?;
            groups.insert(name.to_owned(), group);
        }
        let (everyone, _) = Actor::spawn(None, GroupActor, ())
            .await
            .map_err(spawn_err)?;
        let admission = Admission::new(limits.max_connections, limits.max_connections_per_user);
        let dependents = related::dependents(&registry);
        let rates = RateLimits::new(&limits);
        let request_ids = crate::idempotency::RequestIds::new(&limits);
        Ok(Engine {
            inner: Arc::new(Inner {
                registry,
                limits,
                store,
                locks: RowLocks::default(),
                creates: Creates::default(),
                live_budget: Arc::default(),
                stats,
                metrics,
                streams,
                interest,
                related_interest,
                dependents,
                groups,
                everyone,
                layer,
                authenticators,
                allow_anonymous,
                next_conn: AtomicU64::new(1),
                origins,
                runtime: tokio::runtime::Handle::try_current().ok(),
                admission,
                rates,
                request_ids,
                identities: users::Identities::default(),
                health: crate::health::Health::default(),
            }),
        })
    }

    /// A fresh connection id, unique in this engine.
    pub(crate) fn next_conn_id(&self) -> crate::outbound::ConnId {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs the authenticators on a handshake or HTTP request: the first that recognises it
    /// gives the user; none means anonymous, which is refused when not allowed.
    pub async fn authenticate(&self, head: &RequestHead) -> Result<Option<User>, Refusal> {
        for authenticator in &self.inner.authenticators {
            match authenticator.authenticate(head).await {
                Ok(Some(user)) => return Ok(Some(user)),
                Ok(None) => {}
                Err(AuthError::Rejected) => return Err(Refusal::Unauthenticated),
                Err(e) => {
                    tracing::warn!(error = %e, "authenticator failed");
                    return Err(Refusal::Unavailable);
                }
            }
        }
        if self.inner.allow_anonymous {
            Ok(None)
        } else {
            Err(Refusal::Unauthenticated)
        }
    }

    /// The server's limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The engine's counters: pushes encoded, delivered and refused.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// The engine's Prometheus metrics: what `GET /metrics` shows, for an application to
    /// encode or add to its own registry ([`crate::metrics`]).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// A new connection's outbound queue, bounded by the limits (`outbound_queue`,
    /// `outbound_queue_bytes`) and counted in the engine's queue metrics: what adapters make
    /// for each WebSocket.
    pub fn outbound_queue(&self) -> crate::outbound::OutboundQueue {
        crate::outbound::OutboundQueue::for_limits(&self.inner.limits)
            .metered(self.inner.metrics.queue_gauges())
    }

    /// The bindings.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The tokio runtime the engine was started on. A thread outside it that polls the
    /// engine's futures (the blocking adapter's connection threads) enters it, so custom
    /// handlers and stores that use tokio timers or spawn tasks work there.
    pub fn runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.inner.runtime.as_ref()
    }

    /// The store's kind (`memory`, `postgres`).
    pub fn store_kind(&self) -> &'static str {
        self.inner.store.kind()
    }

    /// Publishes a committed change to its stream's subscribers, then what it cascaded to;
    /// and, through the layer, tells the other nodes which rows changed.
    pub fn publish(&self, change: Change) {
        if self.inner.layer.is_remote() {
            let rows = std::iter::once(&change)
                .chain(&change.cascaded)
                .filter_map(|c| {
                    let binding = self.inner.registry.get(&c.stream)?;
                    Some(ChangedRow {
                        table: binding.table().to_owned(),
                        schema: binding.schema_name().map(str::to_owned),
                        pk: c.pk.clone(),
                        created: c.kind == ChangeKind::Created,
                    })
                })
                .collect();
            self.publish_layer(&LayerMessage::Changes { rows });
        }
        self.publish_local(change);
    }

    /// Whether any connection of this node watches `stream` (a row, a live query or a change
    /// feed), or is about to: a subscription counts from before its snapshot is read.
    ///
    /// A stream also counts as watched when a subscription of another stream shows its rows
    /// through a relation.
    pub fn is_watched(&self, stream: &str) -> bool {
        let inner = &self.inner;
        let watched = |map: &HashMap<String, Arc<Interest>>, stream: &str| {
            map.get(stream).is_some_and(|i| i.is_watched())
        };
        watched(&inner.interest, stream)
            || inner
                .dependents
                .get(stream)
                .is_some_and(|d| d.iter().any(|t| watched(&inner.related_interest, t)))
    }

    /// Publishes a change to this node's subscribers only: to its stream's actor, and to the
    /// actors of streams whose subscriptions may show it through a relation.
    pub(crate) fn publish_local(&self, mut change: Change) {
        let inner = &self.inner;
        let cascaded = std::mem::take(&mut change.cascaded);
        // The span the change was published in (a write's request): its fan-out is traced
        // as a child of it, so a write's pushes show up in the write's trace.
        let cause = tracing::Span::current();
        for change in std::iter::once(change).chain(cascaded) {
            let change = Arc::new(change);
            if let Some(stream) = inner.streams.get(&change.stream) {
                let msg = StreamMsg::Change(Arc::clone(&change), cause.clone());
                let _ = stream.send_message(msg);
            }
            // After the change itself, so a stream reading its own rows through relations
            // judges the change before it re-reads for it.
            self.route_to_related(&change);
        }
    }

    /// Makes every stream re-read its live queries and watched rows and push what changed:
    /// for when changes may have gone unseen, as after the capture listener reconnects.
    /// Change feeds (`subscribe`) are not replayed; they resume with the next change.
    pub fn refresh_all(&self) {
        for stream in self.inner.streams.values() {
            let _ = stream.send_message(StreamMsg::Refresh);
        }
    }

    /// Sends `<stream>.<event>` with `data` to every connection in the stream's group, on
    /// this node and, through the layer, on the others. Returns `false` when no binding
    /// serves `stream`.
    pub fn send_to_group(&self, stream: &str, event: &str, data: &Value) -> bool {
        if !self.group_local(stream, event, data) {
            return false;
        }
        if self.inner.layer.is_remote() {
            self.publish_layer(&LayerMessage::Group {
                stream: stream.to_owned(),
                event: event.to_owned(),
                data: data.clone(),
            });
        }
        true
    }

    /// Sends `<stream>.<event>` with `data` to every connection, on every node.
    pub fn broadcast(&self, stream: &str, event: &str, data: &Value) {
        self.broadcast_local(stream, event, data);
        if !self.inner.layer.is_remote() {
            return;
        }
        self.publish_layer(&LayerMessage::Broadcast {
            stream: stream.to_owned(),
            event: event.to_owned(),
            data: data.clone(),
        });
    }

    /// Sends `<stream>.<event>` with `data` to every connection of the user `user_id`, on
    /// every node.
    pub fn send_to_user(&self, user_id: i64, stream: &str, event: &str, data: &Value) {
        self.user_local(user_id, stream, event, data);
        if !self.inner.layer.is_remote() {
            return;
        }
        self.publish_layer(&LayerMessage::User {
            user_id,
            stream: stream.to_owned(),
            event: event.to_owned(),
            data: data.clone(),
        });
    }

    /// Delivers a message another node sent through the layer to this node's connections
    /// only; it is never passed on again. [`LayerMessage::Changes`] is not delivered here
    /// (its rows need reading): [`Engine::receive_layer`] routes it.
    pub fn deliver_remote(&self, message: LayerMessage) {
        match message {
            LayerMessage::Group {
                stream,
                event,
                data,
            } => {
                self.group_local(&stream, &event, &data);
            }
            LayerMessage::Broadcast {
                stream,
                event,
                data,
            } => self.broadcast_local(&stream, &event, &data),
            LayerMessage::User {
                user_id,
                stream,
                event,
                data,
            } => self.user_local(user_id, &stream, &event, &data),
            LayerMessage::DisconnectUser { user_id } => {
                self.disconnect_local(user_id);
            }
            LayerMessage::RecheckUser { user } => {
                self.recheck_local(user.into());
            }
            LayerMessage::Changes { .. } => {
                // Rows must be read through the store first: see `receive_layer`.
                tracing::warn!(
                    "changed rows passed to deliver_remote are ignored; use receive_layer"
                );
            }
        }
    }

    /// Hands `message` to the layer, counted in `chanbind_layer_messages_sent_total`.
    fn publish_layer(&self, message: &LayerMessage) {
        self.inner.metrics.families().layer_sent.inc();
        self.inner.layer.publish(message);
    }

    /// The channel layer's kind (`in-process`, `postgres`).
    pub fn layer_kind(&self) -> &'static str {
        self.inner.layer.kind()
    }

    fn group_local(&self, stream: &str, event: &str, data: &Value) -> bool {
        let Some(group) = self.inner.groups.get(stream) else {
            return false;
        };
        let frame = encode_reply(&EventName::new(stream, event, None).to_string(), data);
        group.send_message(GroupMsg::Send(frame)).is_ok()
    }

    fn broadcast_local(&self, stream: &str, event: &str, data: &Value) {
        let frame = encode_reply(&EventName::new(stream, event, None).to_string(), data);
        let _ = self.inner.everyone.send_message(GroupMsg::Send(frame));
    }

    fn user_local(&self, user_id: i64, stream: &str, event: &str, data: &Value) {
        let frame = encode_reply(&EventName::new(stream, event, None).to_string(), data);
        let _ = self
            .inner
            .everyone
            .send_message(GroupMsg::SendToUser(user_id, frame));
    }

    /// Stops every actor. Sessions still open get no more pushes.
    pub fn shutdown(&self) {
        self.inner.stop_actors();
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl Inner {
    /// Whether the channel layer reaches other nodes.
    pub(crate) fn layer_is_remote(&self) -> bool {
        self.layer.is_remote()
    }

    fn stop_actors(&self) {
        for actor in self.streams.values() {
            actor.stop(None);
        }
        for actor in self.groups.values() {
            actor.stop(None);
        }
        self.everyone.stop(None);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: no session can reach the actors any more.
        self.stop_actors();
    }
}
