//! Version checks over HTTP (docs/protocol.md section 6): `If-Match` on a write becomes its
//! `if_version`, a stale one is answered 412 with the `conflict` error object, and an item's
//! reads and writes carry its version as a strong `ETag`.

use http::header::{ETAG, IF_MATCH};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value};

use super::route::Route;
use super::HttpResponse;
use crate::binding::Registry;
use crate::protocol::ApiError;
use crate::version::{from_if_match, IF_VERSION};

/// The request's `If-Match`, as sent. A header that is not text is kept as an empty value, so
/// it is refused rather than ignored.
pub(super) fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

/// Puts `If-Match` into a write's `data` as its `if_version`: on PUT, PATCH and DELETE of an
/// item and on a form's POST for an existing row. Elsewhere the header is ignored, as `*` is.
pub(super) fn apply(
    registry: &Registry,
    route: &Route,
    method: &Method,
    header: Option<&str>,
    data: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(header) = header else {
        return Ok(());
    };
    let stream = match (route, method) {
        (Route::Item { stream, .. }, &Method::PUT | &Method::PATCH | &Method::DELETE) => stream,
        (
            Route::Form {
                stream,
                id: Some(_),
            },
            &Method::POST,
        ) => stream,
        _ => return Ok(()),
    };
    let Some(binding) = registry.get(stream) else {
        return Ok(());
    };
    if let Some(version) = from_if_match(binding, header)? {
        data.insert(IF_VERSION.to_owned(), version);
    }
    Ok(())
}

/// The status of a failed request: 412 for the `conflict` of a version check the request's
/// `If-Match` asked for (it carries the current row as `object`), the code's own otherwise.
pub(super) fn status(error: &Value, if_match: bool, code_status: StatusCode) -> StatusCode {
    let stale = error["code"] == "conflict" && error.get("object").is_some();
    match stale && if_match {
        true => StatusCode::PRECONDITION_FAILED,
        false => code_status,
    }
}

/// Sets the `ETag` of an item's reply: its version, from the row (a read) or the reply's
/// `object` (a write, a create's 201 included). A binding without a version field has none,
/// and neither has a page of rows.
pub(super) fn set_etag(
    registry: &Registry,
    route: &Route,
    data: &Value,
    response: &mut HttpResponse,
) {
    let (stream, row) = match route {
        Route::Item { stream, .. } => (stream, data.get("object").unwrap_or(data)),
        Route::Form { stream, .. } | Route::Collection { stream } => (stream, &data["object"]),
        _ => return,
    };
    let Some(binding) = registry.get(stream) else {
        return;
    };
    if let Some(tag) = crate::version::etag(binding, row) {
        if let Ok(value) = HeaderValue::from_str(&tag) {
            response.headers_mut().insert(ETAG, value);
        }
    }
}
