//! Whether a node can serve: what `GET /readyz` reports (docs/protocol.md section 6,
//! "Health"). The checks are the store (it answers a probe, [`Store::ping`]), the channel
//! layer's listener and the capture listener (their `LISTEN` connections are up), and, added
//! by the server, that it is not shutting down.
//!
//! The store's probe is shared: however many requests ask, at most one probe
//! runs at a time and its answer stands for a quarter of a second, so a flood of `/readyz`
//! requests does not become a flood of database work. The listeners report their own state
//! ([`ListenerHealth`]), which costs nothing to read.
//!
//! [`Store::ping`]: crate::store::Store::ping

mod listeners;
mod probe;

pub use listeners::{Hears, ListenerHealth};

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::Engine;
use listeners::Listeners;
use probe::StoreProbe;

/// The result of one check: `Err` holds the short reason `/readyz` names.
pub type Check = Result<(), &'static str>;

/// What each check of `/readyz` found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// The store answered its probe (`unreachable`, `busy`, `timeout`, `failed`).
    pub store: Check,
    /// The channel layer's listener hears the other nodes (`connecting`, `disconnected`);
    /// passes with the in-process layer.
    pub layer: Check,
    /// The capture listener hears the triggers (`connecting`, `disconnected`); passes when
    /// no listener was started.
    pub capture: Check,
    /// The server is not shutting down (`draining`). [`Engine::readiness`] leaves it
    /// passing: the server that answers `/readyz` knows.
    pub shutdown: Check,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks().iter().all(|(_, check)| check.is_ok())
    }

    /// The same, with the `shutdown` check failing when `draining`.
    pub fn draining(mut self, draining: bool) -> Readiness {
        if draining {
            self.shutdown = Err("draining");
        }
        self
    }

    /// The body of `/readyz`: `{"status": "ready" | "unavailable", "checks": {name: {"ok":
    /// bool, "error"?: reason}}}`.
    pub fn to_json(&self) -> Value {
        let checks: Map<String, Value> = self
            .checks()
            .iter()
            .map(|(name, check)| {
                let value = match check {
                    Ok(()) => json!({"ok": true}),
                    Err(reason) => json!({"ok": false, "error": reason}),
                };
                ((*name).to_owned(), value)
            })
            .collect();
        let status = if self.is_ready() {
            "ready"
        } else {
            "unavailable"
        };
        json!({"status": status, "checks": checks})
    }

    fn checks(&self) -> [(&'static str, &Check); 4] {
        [
            ("store", &self.store),
            ("layer", &self.layer),
            ("capture", &self.capture),
            ("shutdown", &self.shutdown),
        ]
    }
}

/// The engine's health state: the shared store probe and the listeners.
#[derive(Default)]
pub(crate) struct Health {
    probe: Arc<StoreProbe>,
    listeners: Listeners,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("probes", &self.probe.started())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// What `/readyz` reports, but for the server's own `shutdown` check (left passing; see
    /// [`Readiness::draining`]). The store's answer may be up to a quarter of a second old,
    /// and comes within the store probe's timeout
    /// ([`PING_TIMEOUT`](crate::store::PING_TIMEOUT)) in any case.
    pub async fn readiness(&self) -> Readiness {
        let inner = self.inner();
        let store = inner
            .health
            .probe
            .check(&inner.store, self.runtime())
            .await
            .map_err(|e| e.reason());
        let remote = inner.layer_is_remote();
        let listeners = &inner.health.listeners;
        Readiness {
            store,
            layer: if remote {
                listeners.check(|h| h.layer)
            } else {
                Ok(())
            },
            capture: listeners.check(|h| h.capture),
            shutdown: Ok(()),
        }
    }

    /// A listener's handle for readiness: the adapters' capture listeners take one, hearing
    /// both the capture triggers and the channel layer, and report their connection through
    /// it; a listener of another layer may do the same. It counts until dropped.
    pub fn listener_health(&self, hears: Hears) -> ListenerHealth {
        self.inner().health.listeners.register(hears)
    }

    /// How many store probes readiness has started, for tests that check the bound.
    pub fn store_probes(&self) -> u64 {
        self.inner().health.probe.started()
    }
}
