//! Values of bound fields: checking a JSON value against a field type, putting it in its one
//! canonical form, and ordering two values the way PostgreSQL does.
//!
//! Canonical forms make the in-memory store and PostgreSQL agree byte for byte: timestamps
//! are UTC with six fractional digits and `Z`, UUIDs lower-case, decimals rounded to their
//! declared places.

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::key::KeyKind;
use crate::kind::FieldKind;

mod local;

/// A row: field name to JSON value, `id` included.
pub type Row = Map<String, Value>;

/// Checks `value` against `kind` and returns its canonical form, or a message for the client.
/// `Value::Null` passes through; whether null is allowed is the caller's business.
pub fn canonical(kind: &FieldKind, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if has_nul(value) {
        return Err("must not contain NUL characters".into());
    }
    match kind {
        FieldKind::String | FieldKind::Text | FieldKind::Enum(_) => match value {
            Value::String(_) => Ok(value.clone()),
            _ => Err("must be a string".into()),
        },
        FieldKind::Email => match value {
            Value::String(s) if is_email(s) => Ok(value.clone()),
            Value::String(_) => Err("must be an e-mail address".into()),
            _ => Err("must be a string".into()),
        },
        FieldKind::Integer => match value.as_i64() {
            Some(n) => Ok(Value::from(n)),
            None => Err("must be an integer".into()),
        },
        FieldKind::ForeignKey { key, .. } => key.parse(value).map(|k| k.to_json()),
        FieldKind::Float => match value.as_f64() {
            Some(n) if value.is_number() => Ok(Value::from(n)),
            _ => Err("must be a number".into()),
        },
        FieldKind::Decimal { places } => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err("must be a decimal number".into()),
            };
            let mut d = Decimal::from_str(text.trim()).map_err(|_| "must be a decimal number")?;
            if let Some(places) = places {
                d = d.round_dp(*places);
                d.rescale(*places);
            }
            Ok(Value::String(d.to_string()))
        }
        FieldKind::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err("must be true or false".into()),
        },
        FieldKind::Date => match value {
            Value::String(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) if YEARS.contains(&d.year()) => {
                    Ok(Value::String(d.format("%Y-%m-%d").to_string()))
                }
                Ok(_) => Err(DATE_RANGE.into()),
                Err(_) => Err("must be a date (YYYY-MM-DD)".into()),
            },
            _ => Err("must be a date (YYYY-MM-DD)".into()),
        },
        FieldKind::Datetime => match value {
            Value::String(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => {
                    let t = without_leap_second(t.with_timezone(&Utc));
                    if YEARS.contains(&t.year()) {
                        Ok(Value::String(format_datetime(t)))
                    } else {
                        Err(DATETIME_RANGE.into())
                    }
                }
                Err(_) => Err("must be an RFC 3339 timestamp".into()),
            },
            _ => Err("must be an RFC 3339 timestamp".into()),
        },
        FieldKind::Uuid => match value {
            Value::String(s) => uuid::Uuid::parse_str(s)
                .map(|u| Value::String(u.hyphenated().to_string()))
                .map_err(|_| "must be a UUID".into()),
            _ => Err("must be a UUID".into()),
        },
        FieldKind::LocalDatetime => local::canonical(value),
        FieldKind::Json => Ok(value.clone()),
        FieldKind::Array(element) => match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Array(_) => Err(format!("item {i}: arrays are one-dimensional")),
                    item => canonical(element, item).map_err(|why| format!("item {i}: {why}")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err("must be a list".into()),
        },
    }
}

/// The years (in UTC) a date or timestamp may have. PostgreSQL holds 4713 BC to 294276 AD,
/// but its ISO text has no year 0 and writes BC years with a suffix, and years past 9999 are
/// neither RFC 3339 nor sortable as canonical text: within these years both stores read and
/// write the same text, and its byte order is the order of the instants.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Why a timestamp outside [`YEARS`] is refused.
const DATETIME_RANGE: &str = "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z";

/// Why a date outside [`YEARS`] is refused.
const DATE_RANGE: &str = "must be between 0001-01-01 and 9999-12-31";

/// A leap second (`23:59:60`, which RFC 3339 allows) as the instant PostgreSQL makes of it:
/// the first second of the next minute.
fn without_leap_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    if nanos < 1_000_000_000 {
        return t;
    }
    t.with_nanosecond(nanos - 1_000_000_000)
        .map_or(t, |t| t + chrono::Duration::seconds(1))
}

/// The instant a canonical timestamp names.
fn instant(v: &Value) -> Option<DateTime<Utc>> {
    let text = v.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The canonical text of a timestamp: UTC, microseconds, `Z`.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The current time in canonical form, truncated to microseconds as PostgreSQL keeps it.
pub fn now() -> Value {
    Value::String(format_datetime(Utc::now()))
}

/// Orders two canonical values of one kind as PostgreSQL orders them under `COLLATE "C"`,
/// with null after every value (PostgreSQL's `NULLS LAST` for ascending order).
pub fn compare(kind: &FieldKind, a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        _ => compare_present(kind, a, b),
    }
}

fn compare_present(kind: &FieldKind, a: &Value, b: &Value) -> Ordering {
    match kind {
        FieldKind::Integer
        | FieldKind::ForeignKey {
            key: KeyKind::Integer,
            ..
        } => a.as_i64().cmp(&b.as_i64()),
        FieldKind::Float => {
            // Adding 0.0 turns -0.0 into 0.0, which PostgreSQL holds equal.
            let (x, y) = (
                a.as_f64().unwrap_or(f64::NAN) + 0.0,
                b.as_f64().unwrap_or(f64::NAN) + 0.0,
            );
            x.total_cmp(&y)
        }
        FieldKind::Decimal { .. } => {
            let parse = |v: &Value| v.as_str().and_then(|s| Decimal::from_str(s).ok());
            parse(a).cmp(&parse(b))
        }
        FieldKind::Boolean => a.as_bool().cmp(&b.as_bool()),
        // As instants, as PostgreSQL compares them; text that is not a timestamp (never
        // canonical) falls back to byte order below.
        FieldKind::Datetime if instant(a).is_some() && instant(b).is_some() => {
            instant(a).cmp(&instant(b))
        }
        // Arrays compare item by item, then by length, as PostgreSQL's arrays do; a null item
        // sorts after every value there too.
        FieldKind::Array(element) => match (a, b) {
            (Value::Array(x), Value::Array(y)) => x
                .iter()
                .zip(y)
                .map(|(a, b)| compare(element, a, b))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| x.len().cmp(&y.len())),
            _ => a.to_string().cmp(&b.to_string()),
        },
        // jsonb equality: numbers by value (1 = 1.0), objects regardless of key order.
        FieldKind::Json if json_eq(a, b) => Ordering::Equal,
        // Canonical dates, timestamps and UUIDs sort as text; strings sort by bytes, which is
        // what `COLLATE "C"` does.
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Lower-cases the way PostgreSQL's `lower()` does under `COLLATE "C"`: ASCII letters only.
pub fn fold_case(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// A deliberately plain e-mail check: one `@`, something before it, a dotted domain after it,
/// no spaces. Deliverability is the mail server's business.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_become_utc_microseconds() {
        let v = canonical(&FieldKind::Datetime, &json!("2026-01-02T03:04:05+02:00")).unwrap();
        assert_eq!(v, json!("2026-01-02T01:04:05.000000Z"));
        assert!(canonical(&FieldKind::Datetime, &json!("yesterday")).is_err());
    }

    #[test]
    fn timestamps_and_dates_stay_within_years_1_to_9999_in_utc() {
        let dt = |s: &str| canonical(&FieldKind::Datetime, &json!(s));
        assert_eq!(
            dt("0001-01-01T00:00:00Z").unwrap(),
            json!("0001-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            dt("9999-12-31T23:59:59.9999999Z").unwrap(),
            json!("9999-12-31T23:59:59.999999Z")
        );
        // An offset can carry an instant out of range: year 0 (1 BC) or year 10000.
        for bad in [
            "0001-01-01T00:00:00+00:01",
            "9999-12-31T23:00:00-01:00",
            "0000-06-01T00:00:00Z",
        ] {
            assert_eq!(dt(bad).unwrap_err(), DATETIME_RANGE, "{bad}");
        }
        // A leap second is the next minute's first second, as PostgreSQL reads it.
        assert_eq!(
            dt("2026-06-30T23:59:60.5Z").unwrap(),
            json!("2026-07-01T00:00:00.500000Z")
        );
        assert_eq!(dt("9999-12-31T23:59:60Z").unwrap_err(), DATETIME_RANGE);
        let date = |s: &str| canonical(&FieldKind::Date, &json!(s));
        assert_eq!(date("0001-01-01").unwrap(), json!("0001-01-01"));
        for bad in ["0000-01-01", "-0001-01-01", "+10000-01-01"] {
            assert_eq!(date(bad).unwrap_err(), DATE_RANGE, "{bad}");
        }
    }

    #[test]
    fn timestamps_compare_as_instants() {
        let k = FieldKind::Datetime;
        let (a, b) = (
            json!("2026-01-02T03:04:05Z"),
            json!("2026-01-02T04:04:05+02:00"),
        );
        assert_eq!(compare(&k, &a, &b), Ordering::Greater);
        assert_eq!(
            compare(
                &k,
                &json!("2026-01-02T03:04:05.5Z"),
                &json!("2026-01-02T03:04:05.500000Z")
            ),
            Ordering::Equal
        );
    }

    #[test]
    fn decimals_round_to_their_places() {
        let kind = FieldKind::Decimal { places: Some(2) };
        assert_eq!(canonical(&kind, &json!("10.5")).unwrap(), json!("10.50"));
        assert_eq!(canonical(&kind, &json!(3)).unwrap(), json!("3.00"));
        assert!(canonical(&kind, &json!("ten")).is_err());
    }

    #[test]
    fn types_are_strict() {
        assert!(canonical(&FieldKind::Integer, &json!("5")).is_err());
        assert!(canonical(&FieldKind::Integer, &json!(5.5)).is_err());
        assert!(canonical(&FieldKind::Boolean, &json!(1)).is_err());
        assert!(canonical(&FieldKind::String, &json!(1)).is_err());
        assert!(canonical(&FieldKind::Email, &json!("not an email")).is_err());
        assert!(canonical(&FieldKind::Email, &json!("a@example.com")).is_ok());
        assert_eq!(
            canonical(&FieldKind::Integer, &Value::Null).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn nulls_sort_last_and_strings_by_bytes() {
        let k = FieldKind::String;
        assert_eq!(compare(&k, &Value::Null, &json!("a")), Ordering::Greater);
        assert_eq!(compare(&k, &json!("B"), &json!("a")), Ordering::Less);
        let d = FieldKind::Decimal { places: None };
        assert_eq!(compare(&d, &json!("9.5"), &json!("10.0")), Ordering::Less);
    }
}
