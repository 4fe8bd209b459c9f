//! Reading the typed parts of a request's `data`; a wrong type is `bad_request`.

use serde_json::{Map, Value};

use crate::protocol::ApiError;

/// The request's `id`: required, an integer.
pub(super) fn pk(data: &Map<String, Value>) -> Result<i64, ApiError> {
    match data.get("id") {
        None | Some(Value::Null) => Err(ApiError::bad_request("id is required")),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("id must be an integer")),
    }
}

/// The request's `id` if it has one.
pub(super) fn opt_pk(data: &Map<String, Value>) -> Result<Option<i64>, ApiError> {
    match data.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(_) => pk(data).map(Some),
    }
}

/// A boolean flag, `default` when absent.
pub(super) fn flag(data: &Map<String, Value>, name: &str, default: bool) -> Result<bool, ApiError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(format!(
            "{name} must be true or false"
        ))),
    }
}

/// An integer parameter such as `page` or `limit`.
pub(super) fn int(data: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer"))),
    }
}

/// The `filters` object (empty when absent).
pub(super) fn filters(data: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    match data.get("filters") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ApiError::bad_request("filters must be an object")),
    }
}

/// The `query` text.
pub(super) fn query(data: &Map<String, Value>) -> Result<Option<&str>, ApiError> {
    match data.get("query") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request("query must be a string")),
    }
}
