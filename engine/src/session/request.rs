//! Reading the typed parts of a request's `data`; a wrong type is `bad_request`.

use serde_json::{Map, Value};

use crate::binding::{ModelBinding, PK};
use crate::key::Key;
use crate::protocol::ApiError;

/// The request's `id`: required, a key of the binding's kind. Absent is `bad_request`; of
/// the wrong type (a string for an integer key, a malformed UUID) `invalid`, naming `id`.
pub(super) fn pk(binding: &ModelBinding, data: &Map<String, Value>) -> Result<Key, ApiError> {
    match data.get(PK) {
        None | Some(Value::Null) => Err(ApiError::bad_request("id is required")),
        Some(v) => binding.parse_key(v).map_err(|why| bad_key(&why)),
    }
}

/// The request's `id` if it has one.
pub(super) fn opt_pk(
    binding: &ModelBinding,
    data: &Map<String, Value>,
) -> Result<Option<Key>, ApiError> {
    match data.get(PK) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => pk(binding, data).map(Some),
    }
}

/// The `invalid` error of a key of the wrong type.
pub(crate) fn bad_key(why: &str) -> ApiError {
    ApiError::invalid([(PK.to_owned(), vec![why.to_owned()])].into())
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
