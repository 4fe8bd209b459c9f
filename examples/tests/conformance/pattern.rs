//! Matching received frames against the patterns of a scenario, and substituting captured
//! values into later steps. The rules are in `scenarios/README.md`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Values captured with `"$capture:name"`, by name, for the rest of the scenario.
pub type Captures = BTreeMap<String, Value>;

/// Checks `actual` against `pattern`; on success the captures it made are added to `caps`.
/// On failure `caps` is left as it was and the error names the first mismatch by its path
/// (`$.data.rows[3].username: expected "user003", got "user004"`).
pub fn matches(pattern: &Value, actual: &Value, caps: &mut Captures) -> Result<(), String> {
    let mut staged = caps.clone();
    check(pattern, Some(actual), "$", &mut staged)?;
    *caps = staged;
    Ok(())
}

/// Replaces `"${name}"` with the captured value (whole-string substitution keeps the JSON
/// type) and `${name}` inside a longer string with its text. Patterns stay untouched otherwise.
pub fn substitute(value: &Value, caps: &Captures) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => substitute_str(s, caps)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, caps))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, caps)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        other => other.clone(),
    })
}

fn substitute_str(s: &str, caps: &Captures) -> Result<Value, String> {
    if s.starts_with("$$") || !s.contains("${") {
        return Ok(Value::String(s.to_owned()));
    }
    let lookup = |name: &str| {
        caps.get(name)
            .ok_or_else(|| format!("${{{name}}} was never captured"))
    };
    if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        if !name.contains(['{', '}']) {
            return lookup(name).cloned();
        }
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
        match lookup(&after[..end])? {
            Value::String(text) => out.push_str(text),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// Checks one value; `actual` is `None` for a key the actual object does not have.
fn check(
    pattern: &Value,
    actual: Option<&Value>,
    path: &str,
    caps: &mut Captures,
) -> Result<(), String> {
    if pattern.as_str() == Some("$absent") {
        return match actual {
            None => Ok(()),
            Some(v) => Err(format!("{path}: expected no such key, got {v}")),
        };
    }
    let Some(actual) = actual else {
        return Err(format!("{path}: missing, expected {pattern}"));
    };
    match pattern {
        Value::String(s) if s.starts_with("$$") => {
            literal(&Value::String(s[1..].to_owned()), actual, path)
        }
        Value::String(s) if s.starts_with('$') => matcher(s, actual, path, caps),
        Value::Object(map) if map.len() == 1 && map.contains_key("$exact") => {
            match &map["$exact"] {
                Value::Object(inner) => object(inner, actual, path, caps, true),
                other => Err(format!(
                    "{path}: bad pattern: $exact takes an object, got {other}"
                )),
            }
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("$length") => {
            let want = map["$length"]
                .as_u64()
                .ok_or_else(|| format!("{path}: bad pattern: $length takes a count"))?;
            match actual {
                Value::Array(items) if items.len() as u64 == want => Ok(()),
                Value::Array(items) => Err(format!(
                    "{path}: expected {want} items, got {}",
                    items.len()
                )),
                other => Err(format!(
                    "{path}: expected an array of {want} items, got {other}"
                )),
            }
        }
        Value::Object(map) => object(map, actual, path, caps, false),
        Value::Array(items) => {
            let Value::Array(got) = actual else {
                return Err(format!("{path}: expected an array, got {actual}"));
            };
            if items.len() != got.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}: {actual}",
                    items.len(),
                    got.len()
                ));
            }
            for (i, (p, a)) in items.iter().zip(got).enumerate() {
                check(p, Some(a), &format!("{path}[{i}]"), caps)?;
            }
            Ok(())
        }
        _ => literal(pattern, actual, path),
    }
}

fn object(
    pattern: &Map<String, Value>,
    actual: &Value,
    path: &str,
    caps: &mut Captures,
    exact: bool,
) -> Result<(), String> {
    let Value::Object(got) = actual else {
        return Err(format!("{path}: expected an object, got {actual}"));
    };
    for (key, p) in pattern {
        check(p, got.get(key), &format!("{path}.{key}"), caps)?;
    }
    if exact {
        if let Some(extra) = got.keys().find(|k| !pattern.contains_key(*k)) {
            return Err(format!("{path}: unexpected key {extra:?} in {actual}"));
        }
    }
    Ok(())
}

fn literal(pattern: &Value, actual: &Value, path: &str) -> Result<(), String> {
    let equal = match (pattern, actual) {
        // 1 and 1.0 are the same number on the wire.
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => pattern == actual,
    };
    if equal {
        Ok(())
    } else {
        Err(format!("{path}: expected {pattern}, got {actual}"))
    }
}

fn matcher(name: &str, actual: &Value, path: &str, caps: &mut Captures) -> Result<(), String> {
    let ok = match name {
        "$any" => true,
        "$string" => actual.is_string(),
        "$number" => actual.is_number(),
        "$integer" => actual.is_i64() || actual.is_u64(),
        "$boolean" => actual.is_boolean(),
        "$datetime" => actual
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        _ => {
            if let Some(var) = name.strip_prefix("$capture:") {
                caps.insert(var.to_owned(), actual.clone());
                return Ok(());
            }
            if name.starts_with("${") {
                return Err(format!(
                    "{path}: {name} was not substituted (never captured?)"
                ));
            }
            return Err(format!(
                "{path}: bad pattern: unknown matcher {name:?} (write \"${name}\" for a literal)"
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: expected {name}, got {actual}"))
    }
}

/// The matcher's own tests, run as trials of the suite (`runner::...`).
pub mod selftest {
    use super::*;
    use serde_json::json;

    fn ok(pattern: Value, actual: Value) -> Captures {
        let mut caps = Captures::new();
        if let Err(e) = matches(&pattern, &actual, &mut caps) {
            panic!("{pattern} should match {actual}: {e}");
        }
        caps
    }

    fn bad(pattern: Value, actual: Value) -> String {
        let mut caps = Captures::new();
        match matches(&pattern, &actual, &mut caps) {
            Ok(()) => panic!("{pattern} should not match {actual}"),
            Err(e) => {
                assert!(caps.is_empty(), "a failed match must not capture");
                e
            }
        }
    }

    /// Every test, by name.
    pub fn all() -> Vec<(&'static str, fn())> {
        vec![
            ("objects_match_partially", objects_match_partially),
            (
                "exact_and_absent_prove_a_key_is_missing",
                exact_and_absent_prove_a_key_is_missing,
            ),
            ("arrays_match_exactly", arrays_match_exactly),
            ("type_matchers", type_matchers),
            ("numbers_compare_by_value", numbers_compare_by_value),
            ("captures_and_substitution", captures_and_substitution),
            ("mismatch_names_the_path", mismatch_names_the_path),
            ("unknown_matchers_are_errors", unknown_matchers_are_errors),
        ]
    }

    fn objects_match_partially() {
        ok(json!({"a": 1}), json!({"a": 1, "b": 2}));
        ok(json!({}), json!({"a": 1}));
        ok(
            json!({"a": {"b": "x"}}),
            json!({"a": {"b": "x", "c": null}}),
        );
        bad(json!({"a": 1}), json!({"b": 1}));
        bad(json!({"a": 1}), json!({"a": 2}));
        bad(json!({"a": 1}), json!([1]));
        bad(json!({"a": null}), json!({}));
        ok(json!({"a": null}), json!({"a": null}));
    }

    fn exact_and_absent_prove_a_key_is_missing() {
        ok(
            json!({"$exact": {"a": 1, "b": "$any"}}),
            json!({"a": 1, "b": [2]}),
        );
        bad(json!({"$exact": {"a": 1}}), json!({"a": 1, "b": 2}));
        bad(json!({"$exact": {"a": 1, "b": 2}}), json!({"a": 1}));
        // $exact holds for its own level only.
        ok(
            json!({"$exact": {"a": {"x": 1}}}),
            json!({"a": {"x": 1, "y": 2}}),
        );
        ok(json!({"a": "$absent"}), json!({"b": 1}));
        bad(json!({"a": "$absent"}), json!({"a": null}));
        bad(json!({"$exact": 1}), json!({}));
    }

    fn arrays_match_exactly() {
        ok(json!([1, {"a": 2}]), json!([1, {"a": 2, "b": 3}]));
        ok(json!([]), json!([]));
        bad(json!([1, 2]), json!([2, 1]));
        bad(json!([1]), json!([1, 2]));
        bad(json!([1, 2]), json!([1]));
        bad(json!([]), json!({}));
        ok(json!({"$length": 2}), json!([5, 6]));
        bad(json!({"$length": 2}), json!([5]));
        bad(json!({"$length": 0}), json!({}));
    }

    fn type_matchers() {
        ok(json!("$any"), json!(null));
        ok(json!({"a": "$any"}), json!({"a": [1]}));
        bad(json!({"a": "$any"}), json!({}));
        ok(json!("$string"), json!(""));
        bad(json!("$string"), json!(1));
        ok(json!("$number"), json!(1.5));
        bad(json!("$number"), json!("1"));
        ok(json!("$integer"), json!(-3));
        bad(json!("$integer"), json!(1.5));
        ok(json!("$boolean"), json!(false));
        bad(json!("$boolean"), json!(0));
        ok(json!("$datetime"), json!("2025-01-02T03:04:05Z"));
        ok(
            json!("$datetime"),
            json!("2025-01-02T03:04:05.123456+02:00"),
        );
        bad(json!("$datetime"), json!("2025-01-02 03:04:05"));
        bad(json!("$datetime"), json!("yesterday"));
        bad(json!("$datetime"), json!(1735787045));
        ok(json!("$$5 off"), json!("$5 off"));
        bad(json!("$$5 off"), json!("$$5 off"));
    }

    fn numbers_compare_by_value() {
        ok(json!(1), json!(1.0));
        ok(json!(-1), json!(-1));
        bad(json!(1), json!("1"));
        bad(json!(1), json!(true));
        bad(json!(0), json!(null));
    }

    fn captures_and_substitution() {
        let mut caps = ok(
            json!({"id": "$capture:id", "o": {"t": "$capture:t"}}),
            json!({"id": 7, "o": {"t": "x"}}),
        );
        assert_eq!(caps["id"], json!(7));
        let sent = substitute(
            &json!({"id": "${id}", "label": "task ${id}: ${t}", "n": ["${t}"], "keep": "$$x${id}"}),
            &caps,
        )
        .unwrap();
        assert_eq!(
            sent,
            json!({"id": 7, "label": "task 7: x", "n": ["x"], "keep": "$$x${id}"})
        );
        assert!(substitute(&json!("${nope}"), &caps).is_err());
        assert!(substitute(&json!("a ${id"), &caps).is_err());
        // A failed match leaves the captures alone.
        let before = caps.clone();
        assert!(matches(
            &json!({"id": "$capture:id", "x": 1}),
            &json!({"id": 9, "x": 2}),
            &mut caps
        )
        .is_err());
        assert_eq!(caps, before);
        // An unsubstituted reference is reported, not taken as a literal.
        assert!(bad(json!("${id}"), json!("${id}")).contains("not substituted"));
    }

    fn mismatch_names_the_path() {
        let e = bad(
            json!({"data": {"rows": [{"id": 1}, {"username": "user003"}]}}),
            json!({"data": {"rows": [{"id": 1}, {"username": "user004"}]}}),
        );
        assert!(
            e.starts_with("$.data.rows[1].username: expected \"user003\""),
            "{e}"
        );
    }

    fn unknown_matchers_are_errors() {
        assert!(bad(json!("$strnig"), json!("x")).contains("unknown matcher"));
    }
}
