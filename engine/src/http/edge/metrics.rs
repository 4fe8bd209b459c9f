//! `GET /metrics`: the engine's Prometheus metrics in the text format (docs/protocol.md
//! section 6, "Metrics").

use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Response, StatusCode};

use crate::http::{error_with_status, HttpResponse};
use crate::protocol::ApiError;
use crate::Engine;

/// The path, below the mount point.
pub(super) const PATH: &str = "/metrics";

/// What the encoder writes: OpenMetrics text, which Prometheus reads.
const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics for `GET` (and their headers for `HEAD`); 405 for any other method.
pub(super) fn respond(engine: &Engine, method: &Method) -> HttpResponse {
    if *method != Method::GET && *method != Method::HEAD {
        let mut response = error_with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            &ApiError::bad_request("/metrics answers GET"),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let body = match *method {
        Method::HEAD => Vec::new(),
        _ => engine.metrics().encode_text().into_bytes(),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
