//! Requests by stream, action and outcome, and their latency: handles resolved once per bound
//! (stream, action) when the engine starts, so a request costs a map lookup, a clock read and
//! two atomic adds, and a request for anything unbound counts under `unknown`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use super::families::{Families, RequestLabels, RouteLabels};
use crate::binding::{Registry, BUILT_IN_ACTIONS};
use crate::protocol::{ErrorCode, BATCH};

/// The label of streams and actions no binding serves.
const UNKNOWN: &str = "unknown";

/// The series of one (stream, action), created when first used.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    labels: RouteLabels,
    requests: prometheus_client::metrics::family::Family<RequestLabels, Counter>,
    latency_family: super::families::HistogramFamily,
    ok: OnceLock<Counter>,
    errors: [OnceLock<Counter>; ErrorCode::ALL.len()],
    latency: OnceLock<Histogram>,
}

impl RouteMetrics {
    fn new(stream: &str, action: &str, families: &Families) -> Arc<RouteMetrics> {
        Arc::new(RouteMetrics {
            labels: RouteLabels {
                stream: stream.to_owned(),
                action: action.to_owned(),
            },
            requests: families.requests.clone(),
            latency_family: families.latency.clone(),
            ok: OnceLock::new(),
            errors: std::array::from_fn(|_| OnceLock::new()),
            latency: OnceLock::new(),
        })
    }

    fn counter(&self, code: Option<ErrorCode>) -> &Counter {
        let (slot, name) = match code {
            None => (&self.ok, "ok"),
            Some(code) => (&self.errors[index(code)], code.as_str()),
        };
        slot.get_or_init(|| {
            self.requests.get_or_create_owned(&RequestLabels {
                stream: self.labels.stream.clone(),
                action: self.labels.action.clone(),
                code: name,
            })
        })
    }

    /// Counts one request answered with `code` (`None`: success) after `seconds`.
    pub(crate) fn record(&self, code: Option<ErrorCode>, seconds: f64) {
        self.counter(code).inc();
        self.latency
            .get_or_init(|| self.latency_family.get_or_create_owned(&self.labels))
            .observe(seconds);
    }
}

fn index(code: ErrorCode) -> usize {
    ErrorCode::ALL
        .iter()
        .position(|c| *c == code)
        .unwrap_or(ErrorCode::ALL.len() - 1)
}

/// Every bound (stream, action), and `unknown`.
pub(crate) struct Routes {
    by_stream: HashMap<String, HashMap<String, Arc<RouteMetrics>>>,
    unknown: Arc<RouteMetrics>,
}

impl Routes {
    pub(crate) fn new(registry: &Registry, families: &Families) -> Routes {
        let mut by_stream: HashMap<String, HashMap<String, Arc<RouteMetrics>>> = HashMap::new();
        let mut add = |stream: &str, action: &str| {
            by_stream.entry(stream.to_owned()).or_default().insert(
                action.to_owned(),
                RouteMetrics::new(stream, action, families),
            );
        };
        for binding in registry.models() {
            for action in BUILT_IN_ACTIONS {
                add(binding.stream(), action);
            }
            for action in binding.handlers().actions() {
                add(binding.stream(), action);
            }
        }
        for binding in registry.customs() {
            add(binding.stream(), "subscribe");
            add(binding.stream(), "unsubscribe");
            for action in binding.handlers().actions() {
                add(binding.stream(), action);
            }
        }
        add("", BATCH);
        Routes {
            by_stream,
            unknown: RouteMetrics::new(UNKNOWN, UNKNOWN, families),
        }
    }

    pub(crate) fn get(&self, stream: &str, action: &str) -> &Arc<RouteMetrics> {
        self.by_stream
            .get(stream)
            .and_then(|actions| actions.get(action))
            .unwrap_or(&self.unknown)
    }

    pub(crate) fn unknown(&self) -> &Arc<RouteMetrics> {
        &self.unknown
    }
}

/// A request being timed: where it counts and when it arrived.
#[derive(Debug)]
pub(crate) struct Meter {
    route: Arc<RouteMetrics>,
    started: Instant,
}

impl Meter {
    /// A request to `route` that arrived at `started`.
    pub(crate) fn at(route: Arc<RouteMetrics>, started: Instant) -> Meter {
        Meter { route, started }
    }

    /// The request was answered with `code` (`None`: success).
    pub(crate) fn finish(self, code: Option<ErrorCode>) {
        self.route
            .record(code, self.started.elapsed().as_secs_f64());
    }
}

/// The error code of a connection's running request's reply, if it failed: set where the
/// reply is encoded, read when the job ends. A connection runs one job at a time.
#[derive(Debug, Default)]
pub struct Outcome(AtomicU8);

impl Outcome {
    /// The reply is this error.
    pub(crate) fn failed(&self, code: ErrorCode) {
        // 0 means no error; codes are stored one up.
        self.0.store(index(code) as u8 + 1, Ordering::Relaxed);
    }

    /// The error recorded since the last take, and none from now on.
    pub(crate) fn take(&self) -> Option<ErrorCode> {
        match self.0.swap(0, Ordering::Relaxed) {
            0 => None,
            n => ErrorCode::ALL.get(usize::from(n) - 1).copied(),
        }
    }
}
