//! The query parameters of an upsert over HTTP (docs/protocol.md section 6):
//! `POST /api/<stream>/?on_conflict=<field>` and `PUT /api/<stream>/<id>?create=false`.
//! They join the body's data as the WebSocket's `on_conflict` and `create` keys; one given
//! both in the body and in the query is refused.

use serde_json::{Map, Value};

use crate::protocol::ApiError;

/// Adds the upsert's query parameters to `data`; other parameters are left alone.
pub(crate) fn add_params(
    query: Option<&str>,
    data: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(query) = query else { return Ok(()) };
    for (key, raw) in form_urlencoded::parse(query.as_bytes()) {
        let value = match key.as_ref() {
            "on_conflict" => Value::String(raw.into_owned()),
            "create" => match raw.as_ref() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(ApiError::bad_request("create must be true or false")),
            },
            _ => continue,
        };
        if data.contains_key(key.as_ref()) {
            return Err(ApiError::bad_request(format!(
                "{key} is given more than once"
            )));
        }
        data.insert(key.into_owned(), value);
    }
    Ok(())
}
