//! Version checks (docs/protocol.md section 2, "Version checks"): the value a write's
//! `if_version` (or an HTTP `If-Match`) expects, the condition that makes the store's own
//! `UPDATE`/`DELETE` apply only while the row still has it, the version a write gives the row,
//! and the `ETag` a read carries.

use serde_json::{Map, Value};

use crate::binding::{ModelBinding, VersionKind};
use crate::filter::{Condition, Filter, Lookup, Operand};
use crate::protocol::{ApiError, ErrorCode};
use crate::value::{canonical, now, Row};

/// The request field a write names the version it expects with.
pub const IF_VERSION: &str = "if_version";

/// The version `data` expects the row to have: `None` when it has no `if_version` (or a null
/// one). An `if_version` on a binding without a version field, or of a type the field cannot
/// hold, is `bad_request`, like any request field of the wrong type.
pub fn expected(
    binding: &ModelBinding,
    data: &Map<String, Value>,
) -> Result<Option<Value>, ApiError> {
    match data.get(IF_VERSION) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => parse(binding, value).map(Some),
    }
}

/// `value` as the canonical form of the binding's version field.
pub fn parse(binding: &ModelBinding, value: &Value) -> Result<Value, ApiError> {
    let Some(field) = binding.version_name().and_then(|name| binding.get(name)) else {
        return Err(ApiError::bad_request(format!(
            "{} has no version field; if_version cannot be used",
            binding.stream()
        )));
    };
    canonical(field.kind(), value)
        .map_err(|why| ApiError::bad_request(format!("if_version: {why}")))
}

/// The condition the store ANDs into its write's row scope: the version field equals
/// `expected`. The store checks it in the statement that writes, so no other write can come
/// between the check and the write.
pub fn condition(binding: &ModelBinding, expected: &Value) -> Filter {
    let Some(field) = binding.version_name().and_then(|name| binding.get(name)) else {
        return Filter::everything();
    };
    Filter::Cond(Condition {
        path: Vec::new(),
        field: field.name().to_owned(),
        kind: field.kind().clone(),
        lookup: Lookup::Exact,
        operand: Operand::Value(expected.clone()),
    })
}

/// Gives a written row its version: a counter starts at 1 on create (the store adds one on
/// every update), a timestamp is the time of the write.
pub fn stamp(binding: &ModelBinding, values: &mut Row, create: bool) {
    let Some(name) = binding.version_name() else {
        return;
    };
    match binding.version_kind() {
        Some(VersionKind::Counter) if create => {
            values.insert(name.to_owned(), Value::from(1));
        }
        Some(VersionKind::Timestamp) => {
            values.insert(name.to_owned(), now());
        }
        _ => {}
    }
}

/// The `conflict` a write whose `if_version` no longer matches gets, carrying the row as it
/// is now (`object`, rendered as the writer sees it).
pub fn conflict(binding: &ModelBinding, object: Value) -> ApiError {
    let name = binding.version_name().unwrap_or_default();
    let mut error = ApiError::new(
        ErrorCode::Conflict,
        "the row has changed since the version this write expects",
    );
    error.fields.insert(
        name.to_owned(),
        vec![format!(
            "is now {}",
            object.get(name).unwrap_or(&Value::Null)
        )],
    );
    error.object = Some(object);
    error
}

/// The strong `ETag` of a rendered row: its version in double quotes (`"3"`, or a timestamp's
/// text), `None` when the binding has no version field or the reader does not see it.
pub fn etag(binding: &ModelBinding, object: &Value) -> Option<String> {
    let value = object.get(binding.version_name()?)?;
    match value {
        Value::Number(n) => Some(format!("\"{n}\"")),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_graphic() && b != b'"') => {
            Some(format!("\"{s}\""))
        }
        _ => None,
    }
}

/// The version an `If-Match` header expects, as an `if_version` value: `None` for `*` (any
/// current row). A list of several tags, a weak tag (it never matches a strong comparison) or
/// one that is no version of the binding is `bad_request`.
pub fn from_if_match(binding: &ModelBinding, header: &str) -> Result<Option<Value>, ApiError> {
    let header = header.trim();
    if header == "*" {
        return Ok(None);
    }
    let bad = || ApiError::bad_request("If-Match must be one strong entity tag such as \"3\"");
    let tag = header
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.contains('"'))
        .ok_or_else(bad)?;
    let value = match binding.version_kind() {
        Some(VersionKind::Counter) => Value::from(tag.parse::<i64>().map_err(|_| bad())?),
        _ => Value::String(tag.to_owned()),
    };
    parse(binding, &value).map(Some)
}

/// A request's `data`, borrowed when nothing was taken out of it.
pub type Data<'a> = std::borrow::Cow<'a, Map<String, Value>>;

/// `data` without its `if_version`, and the version it expects: the rest is validated as the
/// write's values, where `if_version` would be an unknown field.
pub fn split<'a>(
    binding: &ModelBinding,
    data: &'a Map<String, Value>,
) -> Result<(Data<'a>, Option<Value>), ApiError> {
    if !data.contains_key(IF_VERSION) {
        return Ok((std::borrow::Cow::Borrowed(data), None));
    }
    let expect = expected(binding, data)?;
    let mut rest = data.clone();
    rest.remove(IF_VERSION);
    Ok((std::borrow::Cow::Owned(rest), expect))
}

/// The `bad_request` for an `if_version` on a write that makes a new row.
pub fn not_on_create() -> ApiError {
    ApiError::bad_request("if_version needs the id of an existing row")
}

/// Moves a counter version one on in `row` (an update's new image), as the SQL store's
/// `UPDATE` does with `COALESCE(version, 0) + 1`; a timestamp was stamped with the values.
pub fn increment(binding: &ModelBinding, row: &mut Row) {
    let (Some(name), Some(VersionKind::Counter)) = (binding.version_name(), binding.version_kind())
    else {
        return;
    };
    let next = row.get(name).and_then(Value::as_i64).unwrap_or(0) + 1;
    row.insert(name.to_owned(), Value::from(next));
}
