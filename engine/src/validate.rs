//! Checking a write against the binding's field definitions.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::binding::{DefaultValue, Field, FieldKind, KeySource, ModelBinding, PK};
use crate::permission::View;
use crate::protocol::ApiError;
use crate::value::{canonical, now, Row};

/// What kind of write the values are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// A new row: absent fields take their default, required ones must be there, and
    /// server-set fields (such as `auto_now_add`) are filled in.
    Create,
    /// A partial update: only the given fields are checked and written.
    Update,
    /// A full replacement (`save` with an `id`): every writable field is written, absent ones
    /// take their default; server-set fields keep their value.
    Replace,
}

/// Validates client `data` for a write and returns the canonical column values to store.
///
/// `id` is the caller's to read, except on a create of a binding whose clients give keys
/// ([`KeySource`]): there the key (as `id`, or under its column's name) is checked and
/// returned as `id`, and a missing one is refused when the client must give it. Read-only
/// fields (computed ones included) are ignored so a client can send back the object it received, and an unknown field
/// is refused so typos do not vanish. Every bad field is named in the `invalid` error's
/// `fields`.
pub fn validate_write(
    binding: &ModelBinding,
    data: &Map<String, Value>,
    mode: WriteMode,
) -> Result<Row, ApiError> {
    validate_write_as(binding, data, mode, &View::everything())
}

/// [`validate_write`] for a user with `view`: fields the view hides count as unknown, and
/// fields it may not write are ignored like the binding's read-only ones.
pub fn validate_write_as(
    binding: &ModelBinding,
    data: &Map<String, Value>,
    mode: WriteMode,
    view: &View,
) -> Result<Row, ApiError> {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut row = Row::new();
    for key in data.keys() {
        // A computed field is read-only: ignored, so a row sent back as it was read passes.
        if key != PK && (!binding.shows(key) || !view.can_see(key)) {
            errors
                .entry(key.clone())
                .or_default()
                .push("unknown field".into());
        }
    }
    if mode == WriteMode::Create {
        client_key(binding, data, &mut row, &mut errors);
    }
    let mirror = binding.key_mirror();
    for field in binding
        .fields()
        .iter()
        .filter(|f| f.name() != PK && Some(f.name()) != mirror)
    {
        if field.is_read_only() || !view.can_write(field.name()) {
            if mode == WriteMode::Create {
                if let Some(default) = field.default_value() {
                    row.insert(field.name().to_owned(), default_of(field.kind(), default));
                }
            }
            continue;
        }
        match data.get(field.name()) {
            Some(value) => match check(field, value) {
                Ok(value) => {
                    row.insert(field.name().to_owned(), value);
                }
                Err(msg) => errors.entry(field.name().to_owned()).or_default().push(msg),
            },
            None if mode == WriteMode::Update => {}
            // Left out, so the database's own default fills the column in.
            None if field.has_server_default() && field.default_value().is_none() => {}
            // Required, or never null with nothing to fill it in (a `NOT NULL` column without
            // a default, whose empty string is still a value).
            None if field.is_required()
                || !field.is_nullable() && field.default_value().is_none() =>
            {
                errors
                    .entry(field.name().to_owned())
                    .or_default()
                    .push("this field is required".into());
            }
            None => {
                let value = field
                    .default_value()
                    .map(|d| default_of(field.kind(), d))
                    .unwrap_or(Value::Null);
                row.insert(field.name().to_owned(), value);
            }
        }
    }
    if errors.is_empty() {
        Ok(row)
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// The key a create gives, when the binding lets clients give keys: `id`, or the key
/// column's own name (a client may send back a row it read, which carries both).
fn client_key(
    binding: &ModelBinding,
    data: &Map<String, Value>,
    row: &mut Row,
    errors: &mut BTreeMap<String, Vec<String>>,
) {
    let source = binding.key_source_kind();
    if source == KeySource::Database {
        return;
    }
    let given = [Some(PK), binding.key_mirror()]
        .into_iter()
        .flatten()
        .find_map(|name| data.get(name).filter(|v| !v.is_null()).map(|v| (name, v)));
    match given {
        Some((name, value)) => match binding.parse_key(value) {
            Ok(key) => {
                let key = key.to_json();
                match check(binding.key_field(), &key) {
                    Ok(key) => {
                        row.insert(PK.to_owned(), key);
                    }
                    Err(msg) => errors.entry(name.to_owned()).or_default().push(msg),
                }
            }
            Err(msg) => errors.entry(name.to_owned()).or_default().push(msg),
        },
        None if source == KeySource::Client => errors
            .entry(PK.to_owned())
            .or_default()
            .push("this field is required".into()),
        None => {}
    }
}

fn default_of(kind: &FieldKind, default: &DefaultValue) -> Value {
    match default {
        DefaultValue::Value(v) => canonical(kind, v).unwrap_or_else(|_| v.clone()),
        DefaultValue::Now => now(),
    }
}

/// Checks one value against one field and returns it in canonical form.
pub fn check(field: &Field, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return if field.is_nullable() {
            Ok(Value::Null)
        } else if field.is_required() {
            Err("this field is required".into())
        } else {
            Err("this field may not be null".into())
        };
    }
    let value = canonical(field.kind(), value)?;
    match (field.kind(), &value) {
        // An array's constraints (length, bounds, choices) hold for each of its items.
        (FieldKind::Array(element), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate().filter(|(_, v)| !v.is_null()) {
                constraints(field, element, item).map_err(|why| format!("item {i}: {why}"))?;
            }
        }
        (kind, value) => constraints(field, kind, value)?,
    }
    Ok(value)
}

/// Checks a canonical value of `kind` against the field's length, bounds and choices.
fn constraints(field: &Field, kind: &FieldKind, value: &Value) -> Result<(), String> {
    if let Value::String(s) = value {
        if kind.is_textual() {
            if s.is_empty() && field.is_required() {
                return Err("this field may not be blank".into());
            }
            if let Some(max) = field.max_len() {
                if s.chars().count() > max {
                    return Err(format!("at most {max} characters"));
                }
            }
        }
    }
    if let Some(n) = number(kind, value) {
        let (min, max) = field.bounds();
        if let Some(min) = min.filter(|m| n < *m) {
            return Err(format!("must be >= {min}"));
        }
        if let Some(max) = max.filter(|m| n > *m) {
            return Err(format!("must be <= {max}"));
        }
    }
    let choices = field.choice_list();
    if !choices.is_empty() && !choices.iter().any(|(v, _)| v == value) {
        let allowed: Vec<String> = choices.iter().map(|(v, _)| v.to_string()).collect();
        return Err(format!("must be one of {}", allowed.join(", ")));
    }
    Ok(())
}

fn number(kind: &FieldKind, value: &Value) -> Option<f64> {
    match kind {
        FieldKind::Integer | FieldKind::Float => value.as_f64(),
        FieldKind::Decimal { .. } => value.as_str().and_then(|s| s.parse().ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use serde_json::json;

    fn task() -> ModelBinding {
        ModelBinding::new("todo_task")
            .field(Field::string("title").required().max_length(5))
            .field(Field::boolean("done").default(false))
            .field(Field::integer("priority").min(0).max(5).default(0))
            .field(Field::datetime("created_at").auto_now_add())
    }

    fn run(data: Value, mode: WriteMode) -> Result<Row, ApiError> {
        validate_write(&task(), data.as_object().unwrap(), mode)
    }

    #[test]
    fn create_fills_defaults_and_server_fields() {
        let row = run(
            json!({"title": "a", "created_at": "ignored", "id": 9}),
            WriteMode::Create,
        )
        .unwrap();
        assert_eq!(row["done"], false);
        assert_eq!(row["priority"], 0);
        assert!(row["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(!row.contains_key("id"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = run(
            json!({"title": "toolong", "priority": 9, "done": "yes", "nope": 1}),
            WriteMode::Create,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Invalid);
        let names: Vec<_> = e.fields.keys().cloned().collect();
        assert_eq!(names, ["done", "nope", "priority", "title"]);
        let e = run(json!({}), WriteMode::Create).unwrap_err();
        assert_eq!(e.fields["title"], ["this field is required"]);
        let e = run(json!({"title": ""}), WriteMode::Create).unwrap_err();
        assert_eq!(e.fields["title"], ["this field may not be blank"]);
        let e = run(json!({"title": null}), WriteMode::Update).unwrap_err();
        assert_eq!(e.fields["title"], ["this field is required"]);
        let e = run(json!({"priority": -1}), WriteMode::Update).unwrap_err();
        assert_eq!(e.fields["priority"], ["must be >= 0"]);
    }

    #[test]
    fn update_writes_only_what_was_given_and_replace_resets_the_rest() {
        let row = run(json!({"done": true}), WriteMode::Update).unwrap();
        assert_eq!(row.len(), 1);
        let row = run(json!({"title": "x"}), WriteMode::Replace).unwrap();
        assert_eq!(row["priority"], 0);
        assert!(!row.contains_key("created_at"));
    }
}
