//! Every metric family of an engine, and their names, types and help texts: the table of
//! docs/protocol.md section 6, "Metrics".

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::stats::Stats;

/// `adapter`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct AdapterLabels {
    pub(crate) adapter: &'static str,
}

/// `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) reason: &'static str,
}

/// `code` and `reason` of a close.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct CloseLabels {
    pub(crate) code: &'static str,
    pub(crate) reason: &'static str,
}

/// `stream`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct StreamLabels {
    pub(crate) stream: String,
}

/// `stream` and `action` of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) stream: String,
    pub(crate) action: String,
}

/// `stream`, `action` and `code` (`ok`, or an error code) of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) stream: String,
    pub(crate) action: String,
    pub(crate) code: &'static str,
}

pub(crate) type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The latency histograms, by stream and action.
pub(crate) type HistogramFamily = Histograms<RouteLabels>;

fn latency() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

fn lag() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The families; each is a handle on shared values, so registering them in a second registry
/// shows the same series.
#[derive(Debug)]
pub(crate) struct Families {
    pub(crate) connections: Family<AdapterLabels, Gauge>,
    pub(crate) refused: Family<ReasonLabels, Counter>,
    pub(crate) closes: Family<CloseLabels, Counter>,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) latency: Histograms<RouteLabels>,
    pub(crate) pushes_encoded: Counter,
    pub(crate) pushes_delivered: Counter,
    pub(crate) pushes_refused: Counter,
    pub(crate) pushes_merged: Counter,
    pub(crate) queue_frames: Gauge,
    pub(crate) queue_bytes: Gauge,
    pub(crate) subscriptions: Family<StreamLabels, Gauge>,
    pub(crate) live_queries: Family<StreamLabels, Gauge>,
    pub(crate) refreshes_queued: Gauge,
    pub(crate) refreshes_running: Gauge,
    pub(crate) layer_sent: Counter,
    pub(crate) layer_received: Counter,
    pub(crate) layer_lag: Histogram,
    pub(crate) capture_received: Counter,
    pub(crate) capture_lag: Histogram,
}

impl Families {
    pub(crate) fn new(stats: &Stats) -> Families {
        Families {
            connections: Family::default(),
            refused: Family::default(),
            closes: Family::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency),
            pushes_encoded: stats.pushes_encoded.clone(),
            pushes_delivered: stats.pushes_delivered.clone(),
            pushes_refused: stats.pushes_refused.clone(),
            pushes_merged: stats.pushes_merged.clone(),
            queue_frames: Gauge::default(),
            queue_bytes: Gauge::default(),
            subscriptions: Family::default(),
            live_queries: Family::default(),
            refreshes_queued: Gauge::default(),
            refreshes_running: Gauge::default(),
            layer_sent: Counter::default(),
            layer_received: Counter::default(),
            layer_lag: lag(),
            capture_received: Counter::default(),
            capture_lag: lag(),
        }
    }

    /// Registers every family in `r` under its `chanbind_` name (counters get `_total`).
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register(
            "chanbind_connections",
            "WebSocket connections open, by adapter",
            self.connections.clone(),
        );
        r.register(
            "chanbind_handshakes_refused",
            "WebSocket handshakes refused, by reason",
            self.refused.clone(),
        );
        r.register(
            "chanbind_connections_closed",
            "WebSocket connections the server closed, by close code",
            self.closes.clone(),
        );
        r.register(
            "chanbind_requests",
            "Requests (WebSocket and HTTP) by stream, action and outcome code",
            self.requests.clone(),
        );
        r.register(
            "chanbind_request_duration_seconds",
            "Time from a request's arrival to its reply being queued, by stream and action",
            self.latency.clone(),
        );
        r.register(
            "chanbind_pushes_encoded",
            "Push payloads encoded, one per distinct event per change",
            self.pushes_encoded.clone(),
        );
        r.register(
            "chanbind_pushes_delivered",
            "Push frames queued on connections",
            self.pushes_delivered.clone(),
        );
        r.register(
            "chanbind_pushes_merged",
            "Queued pushes replaced by a newer push of the same subscription in a full queue",
            self.pushes_merged.clone(),
        );
        r.register(
            "chanbind_pushes_refused",
            "Push frames a connection's queue refused (gone or too slow)",
            self.pushes_refused.clone(),
        );
        r.register(
            "chanbind_outbound_queue_frames",
            "Frames waiting in connections' outbound queues, all connections together",
            self.queue_frames.clone(),
        );
        r.register(
            "chanbind_outbound_queue_bytes",
            "Bytes of the frames waiting in connections' outbound queues",
            self.queue_bytes.clone(),
        );
        r.register(
            "chanbind_subscriptions",
            "Subscriptions held (watched rows, live queries, change feeds), by stream",
            self.subscriptions.clone(),
        );
        r.register(
            "chanbind_live_queries",
            "Distinct live queries held, by stream",
            self.live_queries.clone(),
        );
        r.register(
            "chanbind_refreshes_queued",
            "Live-query refreshes waiting for a refresh permit",
            self.refreshes_queued.clone(),
        );
        r.register(
            "chanbind_refreshes_running",
            "Live-query refreshes reading the store",
            self.refreshes_running.clone(),
        );
        r.register(
            "chanbind_layer_messages_sent",
            "Messages this node published on the channel layer",
            self.layer_sent.clone(),
        );
        r.register(
            "chanbind_layer_messages_received",
            "Messages heard from other nodes on the channel layer",
            self.layer_received.clone(),
        );
        r.register(
            "chanbind_layer_lag_seconds",
            "Seconds from a layer message's sending to its arrival here",
            self.layer_lag.clone(),
        );
        r.register(
            "chanbind_capture_notifications",
            "Capture-trigger notifications received",
            self.capture_received.clone(),
        );
        r.register(
            "chanbind_capture_lag_seconds",
            "Seconds from a captured write to its notification's arrival here",
            self.capture_lag.clone(),
        );
    }
}
