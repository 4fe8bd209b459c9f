//! The bound on the text a request's `filters` and `query` may carry (`max_filter_bytes`).
//!
//! A live query keeps its filter for as long as it lives, and every string in it is compared
//! against every changed row, so the text is bounded as a whole: per string would still let an
//! `__in` list of long strings pin a megabyte.

use serde_json::{Map, Value};

use crate::protocol::ApiError;

/// Refuses with `invalid_filter` when the strings of `filters` (keys and values, lists and
/// the objects of `or`/`not` groups included) and `query` together pass `max` bytes.
pub fn check_filter_size(
    filters: &Map<String, Value>,
    query: Option<&str>,
    max: usize,
) -> Result<(), ApiError> {
    let mut total = query.map_or(0, str::len);
    for (key, value) in filters {
        total = total
            .saturating_add(key.len())
            .saturating_add(text_of(value));
    }
    if total > max {
        return Err(ApiError::invalid_filter(format!(
            "filters and query carry {total} bytes of text; at most {max} (max_filter_bytes)"
        )));
    }
    Ok(())
}

/// The bytes of text in a filter operand (a string, or the strings of a list).
fn text_of(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(text_of).fold(0, usize::saturating_add),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| k.len().saturating_add(text_of(v)))
            .fold(0, usize::saturating_add),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use serde_json::json;

    fn filters(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn counts_keys_values_lists_and_query_together() {
        let f = filters(json!({"name__in": ["abc", "de"], "age__gt": 3}));
        // "name__in" (8) + 5 + "age__gt" (7) + 2 of query = 22
        assert!(check_filter_size(&f, Some("xy"), 22).is_ok());
        let err = check_filter_size(&f, Some("xy"), 21).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidFilter);
        assert!(err.message.contains("max_filter_bytes"));
        assert!(check_filter_size(&Map::new(), Some(&"q".repeat(100)), 99).is_err());
    }

    #[test]
    fn counts_the_text_inside_or_and_not_groups() {
        let f = filters(json!({"or": [{"title": "abcd"}, {"not": {"title__in": ["ef"]}}]}));
        // "or" (2) + "title" (5) + 4 + "not" (3) + "title__in" (9) + 2 = 25
        assert!(check_filter_size(&f, None, 25).is_ok());
        let err = check_filter_size(&f, None, 24).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidFilter);
        assert!(err.message.contains("25 bytes"), "{}", err.message);
    }
}
