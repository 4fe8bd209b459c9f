//! Request bodies: the `Content-Type` check (415) and JSON objects (400 when malformed).

use http::header::CONTENT_TYPE;
use http::HeaderMap;
use serde_json::{Map, Value};

use crate::protocol::ApiError;

/// What a request says about its body's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyType {
    /// No `Content-Type`: fine for an empty body, refused for any other.
    Absent,
    /// `application/json` or `application/<anything>+json`, with any parameters.
    Json,
    /// Anything else: 415.
    Other,
}

impl BodyType {
    /// Reads the `Content-Type` header.
    pub(crate) fn of(headers: &HeaderMap) -> BodyType {
        let Some(value) = headers.get(CONTENT_TYPE) else {
            return BodyType::Absent;
        };
        let Ok(value) = value.to_str() else {
            return BodyType::Other;
        };
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let json = essence == "application/json"
            || essence
                .strip_prefix("application/")
                .is_some_and(|sub| sub.ends_with("+json"));
        if json {
            BodyType::Json
        } else {
            BodyType::Other
        }
    }
}

/// The message of a 415.
pub(crate) const UNSUPPORTED: &str = "request bodies must be JSON (Content-Type: application/json)";

/// Why a request's body, or the `data` built from its path and query, was refused.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Not declared as JSON: 415.
    Unsupported,
    /// Not a JSON object: 400 `bad_request`.
    Bad(ApiError),
}

/// The body as the request's `data`: an empty body is `{}`, so `curl -X POST` works for a
/// custom event that takes no arguments; anything else must be a JSON object.
pub(crate) fn object(body: &[u8], kind: BodyType) -> Result<Map<String, Value>, BodyError> {
    match parse(body, kind)? {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(BodyError::Bad(ApiError::bad_request(
            "the body must be a JSON object",
        ))),
    }
}

/// The body as JSON, `None` when empty.
pub(crate) fn parse(body: &[u8], kind: BodyType) -> Result<Option<Value>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if kind != BodyType::Json {
        // Checked again here because a missing Content-Type is only wrong once there is a body.
        return Err(BodyError::Unsupported);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| BodyError::Bad(ApiError::bad_request("the body is not valid JSON")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(value: &str) -> BodyType {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, value.parse().unwrap());
        BodyType::of(&headers)
    }

    #[test]
    fn json_types_are_recognised() {
        assert_eq!(kind("application/json"), BodyType::Json);
        assert_eq!(kind("Application/JSON; charset=utf-8"), BodyType::Json);
        assert_eq!(kind("application/merge-patch+json"), BodyType::Json);
        assert_eq!(kind("text/plain"), BodyType::Other);
        assert_eq!(kind("application/x-www-form-urlencoded"), BodyType::Other);
        assert_eq!(BodyType::of(&HeaderMap::new()), BodyType::Absent);
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert_eq!(object(b"", BodyType::Absent).unwrap(), Map::new());
        assert_eq!(object(br#"{"a":1}"#, BodyType::Json).unwrap()["a"], 1);
        assert!(matches!(
            object(b"{", BodyType::Json),
            Err(BodyError::Bad(_))
        ));
        assert!(matches!(
            object(b"[1]", BodyType::Json),
            Err(BodyError::Bad(_))
        ));
        assert!(matches!(
            object(br#"{"a":1}"#, BodyType::Absent),
            Err(BodyError::Unsupported)
        ));
    }
}
