//! `GET /healthz` and `GET /readyz` (docs/protocol.md section 6, "Health"): answered by the
//! edge before the API, so they need no credentials, count against no rate limit, and work
//! under any API prefix and below a mount point (`/realtime/readyz`).

use http::header::{HeaderValue, CACHE_CONTROL};
use http::request::Parts;
use http::{Method, StatusCode};
use serde_json::json;

use crate::http::respond::{json, method_not_allowed};
use crate::http::HttpResponse;
use crate::Engine;

/// The path of the liveness probe, below the mount point.
pub const HEALTHZ: &str = "/healthz";
/// The path of the readiness probe, below the mount point.
pub const READYZ: &str = "/readyz";

/// A health endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/healthz`: 200 while the process serves requests at all.
    Live,
    /// `/readyz`: 200 when every check of [`Engine::readiness`] passes, 503 otherwise.
    Ready,
}

impl Probe {
    /// The health endpoint a request's path (below the mount point) names, if any.
    pub fn of(parts: &Parts) -> Option<Probe> {
        match parts.uri.path() {
            HEALTHZ => Some(Probe::Live),
            READYZ => Some(Probe::Ready),
            _ => None,
        }
    }

    /// The answer, on a server that is `draining` (shutting down) or not: a draining server
    /// is alive but not ready. Never names more than a check's short reason: no driver or
    /// SQL text.
    pub async fn answer(self, engine: &Engine, parts: &Parts, draining: bool) -> HttpResponse {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return method_not_allowed("GET, HEAD");
        }
        let (status, body) = match self {
            Probe::Live => (StatusCode::OK, json!({"status": "ok"})),
            Probe::Ready => {
                let readiness = engine.readiness().await.draining(draining);
                let status = if readiness.is_ready() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (status, readiness.to_json())
            }
        };
        let mut response = json(status, &body);
        // A cached answer would hide a change of state from the next probe.
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
