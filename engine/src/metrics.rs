//! Prometheus metrics of one engine (docs/protocol.md section 6, "Metrics"): connections,
//! requests and their latency, pushes, closes, queues, subscriptions, refreshes, the store's
//! pool, the layer and the capture listener.
//!
//! Each [`Engine`](crate::Engine) owns its metrics in a registry of its own, so several
//! engines in one process never mix their series and no global recorder is installed. The
//! server's `GET /metrics` (off unless [`ServerSettings::metrics`](crate::http::ServerSettings)
//! is set) answers [`Metrics::encode_text`]; an application with a registry of its own adds
//! the same series to it with [`Metrics::register`]:
//!
//! ```
//! # use std::sync::Arc;
//! # use chanbind_engine::{binding::Registry, store::MemoryStore, Engine};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let registry = Registry::new();
//! # let store = Arc::new(MemoryStore::new(&registry));
//! let engine = Engine::start(registry, store, Default::default()).await?;
//! let mut host = prometheus_client::registry::Registry::default();
//! engine.metrics().register(&mut host);
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &host)?;
//! assert!(text.contains("chanbind_pushes_encoded_total"));
//! assert!(engine.metrics().encode_text().contains("# EOF"));
//! # Ok(())
//! # }
//! ```
//!
//! Labels come from fixed sets only: streams and actions from the bindings (a request for
//! a stream or action no binding serves counts under `unknown`), error codes from
//! [`ErrorCode`](crate::protocol::ErrorCode), refusals from
//! [`Refusal`], close codes from docs/protocol.md section 7. A hostile
//! client cannot make new series.

mod collect;
mod families;
mod requests;
mod sample;

pub(crate) use requests::Outcome;
pub(crate) use requests::{Meter, RouteMetrics};
pub(crate) use sample::spawn_sampler;

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::auth::Refusal;
use crate::binding::Registry as Bindings;
use crate::stats::Stats;
use crate::store::Store;
use families::Families;

/// Which adapter serves a connection: the `adapter` label of `chanbind_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Adapter {
    /// `chanbind-async`, on tokio and hyper.
    Async,
    /// `chanbind-sync`, on threads and mio.
    Sync,
}

impl Adapter {
    /// The label value: `async` or `sync`.
    pub fn as_str(self) -> &'static str {
        match self {
            Adapter::Async => "async",
            Adapter::Sync => "sync",
        }
    }
}

/// The metrics of one engine; cheap to clone. [`Engine::metrics`](crate::Engine::metrics)
/// gives it.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    families: Families,
    routes: requests::Routes,
    store: Arc<dyn Store>,
    sampled: Arc<sample::Sampled>,
    registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of an engine over `bindings` and `store`, counting pushes in `stats`.
    pub(crate) fn new(bindings: &Bindings, store: Arc<dyn Store>, stats: &Stats) -> Metrics {
        let families = Families::new(stats);
        let routes = requests::Routes::new(bindings, &families);
        let sampled = Arc::new(sample::Sampled::default());
        let mut registry = Registry::default();
        families.register(&mut registry);
        registry.register_collector(Box::new(collect::StoreCollector {
            store: Arc::clone(&store),
            sampled: Arc::clone(&sampled),
        }));
        Metrics {
            inner: Arc::new(Inner {
                families,
                routes,
                store,
                sampled,
                registry,
            }),
        }
    }

    /// Every series in the Prometheus text format (OpenMetrics), ending with `# EOF`: the
    /// body of `GET /metrics`.
    pub fn encode_text(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }

    /// Adds every family of this engine to `registry`, the host application's own: its
    /// scrape then shows the same values as this engine's `GET /metrics`.
    pub fn register(&self, registry: &mut Registry) {
        self.inner.families.register(registry);
        registry.register_collector(Box::new(collect::StoreCollector {
            store: Arc::clone(&self.inner.store),
            sampled: Arc::clone(&self.inner.sampled),
        }));
    }

    /// Counts a WebSocket closed by the server with `code` (docs/protocol.md section 7):
    /// `chanbind_connections_closed_total{code, reason}`.
    pub fn closed(&self, code: u16) {
        let reason = crate::protocol::close::reason(code);
        // Only the codes of section 7 become labels.
        let code = match code {
            1001 => "1001",
            1002 => "1002",
            1007 => "1007",
            1009 => "1009",
            4000 => "4000",
            4008 => "4008",
            _ => "other",
        };
        self.inner
            .families
            .closes
            .get_or_create(&families::CloseLabels { code, reason })
            .inc();
    }

    /// A handshake refused for `refusal`.
    pub(crate) fn refused(&self, refusal: Refusal) {
        let reason = match refusal {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Unavailable => "unavailable",
            Refusal::ForbiddenOrigin => "forbidden_origin",
            Refusal::MissingOrigin => "missing_origin",
            Refusal::TooManyConnections => "too_many_connections",
        };
        self.inner
            .families
            .refused
            .get_or_create(&families::ReasonLabels { reason })
            .inc();
    }

    /// One more WebSocket open on `adapter`, until the guard drops.
    pub(crate) fn connection(&self, adapter: Adapter) -> ConnectionGuard {
        let gauge = self
            .inner
            .families
            .connections
            .get_or_create_owned(&families::AdapterLabels {
                adapter: adapter.as_str(),
            });
        gauge.inc();
        ConnectionGuard(gauge)
    }

    /// The handles of requests to `stream`'s `action` (`unknown` for either when no binding
    /// serves it).
    pub(crate) fn route(&self, stream: &str, action: &str) -> &Arc<RouteMetrics> {
        self.inner.routes.get(stream, action)
    }

    /// The gauges of one stream's actor.
    pub(crate) fn stream_gauges(&self, stream: &str) -> StreamGauges {
        let families = &self.inner.families;
        let labels = families::StreamLabels {
            stream: stream.to_owned(),
        };
        StreamGauges {
            subscriptions: families.subscriptions.get_or_create_owned(&labels),
            live_queries: families.live_queries.get_or_create_owned(&labels),
            refreshes_queued: families.refreshes_queued.clone(),
            refreshes_running: families.refreshes_running.clone(),
        }
    }

    /// The counters of each connection's outbound queue.
    pub(crate) fn queue_gauges(&self) -> crate::outbound::QueueMetrics {
        let families = &self.inner.families;
        crate::outbound::QueueMetrics {
            frames: families.queue_frames.clone(),
            bytes: families.queue_bytes.clone(),
            merged: families.pushes_merged.clone(),
        }
    }

    /// The handles of requests no binding serves.
    pub(crate) fn unknown(&self) -> &Arc<RouteMetrics> {
        self.inner.routes.unknown()
    }

    pub(crate) fn families(&self) -> &Families {
        &self.inner.families
    }

    pub(crate) fn sampled(&self) -> &Arc<sample::Sampled> {
        &self.inner.sampled
    }
}

/// What a stream's actor keeps up to date.
#[derive(Debug, Clone)]
pub struct StreamGauges {
    pub(crate) subscriptions: Gauge,
    pub(crate) live_queries: Gauge,
    pub(crate) refreshes_queued: Gauge,
    pub(crate) refreshes_running: Gauge,
}

/// Holds one place in `chanbind_connections` while a connection is open.
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;
