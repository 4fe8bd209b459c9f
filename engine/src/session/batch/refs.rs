//! `{"$ref": "<step>.<field>"}` in a batch step's data: a field of an earlier step's row,
//! as that step's reply shows it (docs/protocol.md section 2, "Batches").
//!
//! A `$ref` may stand for any value of a step's data, at any depth (inside a JSON field's
//! object or a list too). It is an object with the one key `$ref` whose value is a string;
//! an object with `$ref` and other keys, or a `$ref` that is not a string, is `bad_request`.
//! It resolves against what the user was shown of the earlier row (the reply's `object`,
//! and its `id`), so a `$ref` cannot carry a field the user may not see into another row.

use serde_json::{Map, Value};

use crate::protocol::ApiError;

/// The key that marks a reference.
pub(super) const REF: &str = "$ref";

/// A parsed `$ref`: the step it names and the field of that step's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ref {
    pub(super) step: usize,
    pub(super) field: String,
}

/// The reference `value` is, if it is one; a malformed one is `bad_request`.
fn as_ref(value: &Value) -> Result<Option<Ref>, ApiError> {
    let Value::Object(object) = value else {
        return Ok(None);
    };
    let Some(target) = object.get(REF) else {
        return Ok(None);
    };
    let malformed = || ApiError::bad_request("a $ref is {\"$ref\": \"<step index>.<field>\"}");
    let (Value::String(target), 1) = (target, object.len()) else {
        return Err(malformed());
    };
    let (step, field) = target.split_once('.').ok_or_else(malformed)?;
    let digits = !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit());
    let step = step
        .parse::<usize>()
        .ok()
        .filter(|_| digits)
        .ok_or_else(malformed)?;
    if field.is_empty() {
        return Err(malformed());
    }
    Ok(Some(Ref {
        step,
        field: field.to_owned(),
    }))
}

/// Every reference in `data`, in document order.
pub(super) fn refs_in(data: &Map<String, Value>) -> Result<Vec<Ref>, ApiError> {
    fn walk(value: &Value, out: &mut Vec<Ref>) -> Result<(), ApiError> {
        if let Some(r) = as_ref(value)? {
            out.push(r);
            return Ok(());
        }
        match value {
            Value::Object(object) => object.values().try_for_each(|v| walk(v, out)),
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, out)),
            _ => Ok(()),
        }
    }
    let mut out = Vec::new();
    data.values().try_for_each(|v| walk(v, &mut out))?;
    Ok(out)
}

/// Whether `value` is a reference.
pub(super) fn is_ref(value: &Value) -> bool {
    matches!(as_ref(value), Ok(Some(_)))
}

/// `data` with every reference replaced by the field it names of an earlier step's reply
/// (`results[step]`: `{"id": ..., "object": {...}}`). References were checked when the batch
/// was planned; a field the reply does not show is `bad_request`.
pub(super) fn resolve(
    data: Map<String, Value>,
    results: &[Value],
) -> Result<Map<String, Value>, ApiError> {
    fn walk(value: Value, results: &[Value]) -> Result<Value, ApiError> {
        if let Some(r) = as_ref(&value)? {
            return lookup(&r, results);
        }
        Ok(match value {
            Value::Object(object) => Value::Object(
                object
                    .into_iter()
                    .map(|(k, v)| Ok((k, walk(v, results)?)))
                    .collect::<Result<_, ApiError>>()?,
            ),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| walk(v, results))
                    .collect::<Result<_, _>>()?,
            ),
            other => other,
        })
    }
    data.into_iter()
        .map(|(k, v)| Ok((k, walk(v, results)?)))
        .collect()
}

fn lookup(r: &Ref, results: &[Value]) -> Result<Value, ApiError> {
    let reply = results.get(r.step).ok_or_else(|| not_before(r))?;
    let shown = reply
        .get("object")
        .and_then(|o| o.get(&r.field))
        .or_else(|| (r.field == "id").then(|| &reply["id"]));
    shown.cloned().ok_or_else(|| {
        ApiError::bad_request(format!(
            "$ref {}.{}: step {} shows no field {}",
            r.step, r.field, r.step, r.field
        ))
    })
}

/// The error of a reference to a step that does not come before the one it is in.
pub(super) fn not_before(r: &Ref) -> ApiError {
    ApiError::bad_request(format!(
        "$ref {}.{}: a $ref names an earlier step of the batch",
        r.step, r.field
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn references_are_found_at_any_depth_and_resolved() {
        let data =
            object(json!({"task": {"$ref": "0.id"}, "meta": {"tags": [{"$ref": "1.title"}]}}));
        let refs = refs_in(&data).unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].step + refs[1].step, 1);
        let results = [
            json!({"success": true, "id": 7, "object": {"id": 7}}),
            json!({"success": true, "id": 8, "object": {"id": 8, "title": "t"}}),
        ];
        let resolved = resolve(data, &results).unwrap();
        assert_eq!(resolved["task"], 7);
        assert_eq!(resolved["meta"]["tags"][0], "t");
    }

    #[test]
    fn malformed_references_are_bad_requests() {
        for bad in [
            json!({"x": {"$ref": 1}}),
            json!({"x": {"$ref": "1"}}),
            json!({"x": {"$ref": "a.id"}}),
            json!({"x": {"$ref": "+1.id"}}),
            json!({"x": {"$ref": "0."}}),
            json!({"x": {"$ref": "0.id", "other": 1}}),
        ] {
            let e = refs_in(&object(bad.clone())).unwrap_err();
            assert_eq!(e.code, crate::protocol::ErrorCode::BadRequest, "{bad}");
        }
    }

    #[test]
    fn a_field_the_reply_does_not_show_is_refused() {
        let results = [json!({"success": true, "id": 1})];
        let data = object(json!({"x": {"$ref": "0.title"}}));
        assert!(resolve(data, &results).is_err());
        let data = object(json!({"x": {"$ref": "0.id"}}));
        assert_eq!(resolve(data, &results).unwrap()["x"], 1);
    }
}
