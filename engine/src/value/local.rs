//! The canonical form of a date and time without a time zone (`timestamp`).

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde_json::Value;

use super::YEARS;

/// Why a value is not a local date and time.
const NOT_LOCAL: &str =
    "must be a date and time without a time zone (YYYY-MM-DDTHH:MM:SS[.ffffff])";

/// Why a local date and time is out of range.
const LOCAL_RANGE: &str = "must be between 0001-01-01T00:00:00 and 9999-12-31T23:59:59.999999";

/// `YYYY-MM-DDTHH:MM:SS.ffffff`: microseconds (more digits are cut, as for `datetime`),
/// a `T` between date and time, no offset. A space instead of the `T` (what psql prints) and
/// a time without seconds (what a browser's input sends) are accepted; an offset or `Z` is
/// refused, since the column would silently drop it.
pub(super) fn canonical(value: &Value) -> Result<Value, String> {
    let Value::String(text) = value else {
        return Err(NOT_LOCAL.into());
    };
    let text = text.replacen(' ', "T", 1);
    // Seconds may be left out, as a browser's `datetime-local` input leaves them out.
    let t = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| NOT_LOCAL.to_owned())?;
    let t = without_leap_second(t);
    if !YEARS.contains(&t.year()) {
        return Err(LOCAL_RANGE.into());
    }
    Ok(Value::String(format(t)))
}

/// The canonical text.
fn format(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// `23:59:60` is the first second of the next minute, as PostgreSQL reads it.
fn without_leap_second(t: NaiveDateTime) -> NaiveDateTime {
    let nanos = t.nanosecond();
    if nanos < 1_000_000_000 {
        return t;
    }
    t.with_nanosecond(nanos - 1_000_000_000)
        .map_or(t, |t| t + chrono::Duration::seconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn microseconds_no_offset() {
        let ok = |s: &str| canonical(&json!(s)).unwrap();
        assert_eq!(
            ok("2026-01-02T03:04:05"),
            json!("2026-01-02T03:04:05.000000")
        );
        assert_eq!(
            ok("2026-01-02 03:04:05.5"),
            json!("2026-01-02T03:04:05.500000")
        );
        assert_eq!(
            ok("2026-01-02T03:04:05.1234567"),
            json!("2026-01-02T03:04:05.123456")
        );
        assert_eq!(
            ok("2026-06-30T23:59:60"),
            json!("2026-07-01T00:00:00.000000")
        );
        for bad in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05+02:00",
            "2026-01-02",
            "2026-01-02T03",
            "yesterday",
        ] {
            assert_eq!(canonical(&json!(bad)).unwrap_err(), NOT_LOCAL, "{bad}");
        }
        assert_eq!(canonical(&json!(5)).unwrap_err(), NOT_LOCAL);
        for bad in ["0000-01-01T00:00:00", "9999-12-31T23:59:60"] {
            assert_eq!(canonical(&json!(bad)).unwrap_err(), LOCAL_RANGE, "{bad}");
        }
    }
}
