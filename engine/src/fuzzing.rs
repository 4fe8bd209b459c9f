//! The crate's private parsers of network bytes, opened for the fuzz targets in `fuzz/`.
//! Built only with the `fuzzing` feature; nothing here is API.

use serde_json::{Map, Value};

pub use crate::every_kind::{every_kind, related_registry};

use crate::binding::{ModelBinding, Registry};
use crate::protocol::ApiError;

/// Matches `rest`, a raw path after the HTTP API's prefix, to a route: its engine action
/// under `GET` (or `POST` when `post`), or the error it is refused with.
pub fn route(registry: &Registry, rest: &str, post: bool) -> Result<Option<String>, ApiError> {
    let method = if post {
        http::Method::POST
    } else {
        http::Method::GET
    };
    crate::http::route::Route::parse(registry, rest, post)
        .map(|route| route.action(&method).map(str::to_owned))
}

/// The `data` of a `search` built from a query string, or the error it is refused with.
pub fn search_data(binding: &ModelBinding, query: &str) -> Result<Map<String, Value>, ApiError> {
    crate::http::query::search_data(binding, Some(query))
}
