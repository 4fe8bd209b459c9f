//! Decoding inbound frames and encoding replies, pushes and errors.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{ApiError, EventName, PROTOCOL_VERSION, SERVER_NAME};
use crate::auth::User;
use crate::config::Limits;

/// One encoded outbound text frame. Cloning is cheap, so a push encoded once can be queued on
/// many connections.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(Arc<str>);

impl Frame {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty (never true for frames built here).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Self {
        Frame(Arc::from(s))
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decoded client frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The parsed event name.
    pub event: EventName,
    /// The `data` object (`{}` when absent).
    pub data: Map<String, Value>,
}

/// Why a frame could not be decoded: the event to answer under, and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The event to answer under: the client's own when it had a string `event`, else `error`.
    pub event: String,
    /// The error to send (boxed: an error object is large next to an `Inbound`).
    pub error: Box<ApiError>,
}

/// Decodes one text frame (docs/protocol.md section 1).
pub fn decode_inbound(text: &str) -> Result<Inbound, DecodeError> {
    let fail = |event: &str, error: ApiError| DecodeError {
        event: event.to_owned(),
        error: Box::new(error),
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|_| fail("error", ApiError::bad_request("frame is not valid JSON")))?;
    let Value::Object(mut obj) = value else {
        return Err(fail(
            "error",
            ApiError::bad_request("frame must be a JSON object"),
        ));
    };
    let event = match obj.remove("event") {
        Some(Value::String(event)) => event,
        _ => {
            return Err(fail(
                "error",
                ApiError::bad_request("frame needs a string \"event\""),
            ))
        }
    };
    let name = EventName::parse(&event).map_err(|e| {
        let code = match e {
            super::EventNameError::Shape => super::ErrorCode::UnknownEvent,
            super::EventNameError::Hash => super::ErrorCode::BadRequest,
        };
        fail(&event, ApiError::new(code, e.to_string()))
    })?;
    let data = match obj.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data,
        Some(_) => {
            return Err(fail(
                &event,
                ApiError::bad_request("\"data\" must be an object"),
            ))
        }
    };
    Ok(Inbound { event: name, data })
}

#[derive(Serialize)]
struct ReplyOut<'a, T: Serialize + ?Sized> {
    event: &'a str,
    data: &'a T,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    event: &'a str,
    error: &'a ApiError,
}

/// Encodes `{"event": ..., "data": ...}`.
pub fn encode_reply<T: Serialize + ?Sized>(event: &str, data: &T) -> Frame {
    // Serializing a `serde_json::Value` or a derived struct into a String cannot fail.
    serde_json::to_string(&ReplyOut { event, data })
        .unwrap_or_else(|_| {
            String::from(
                r#"{"event":"error","error":{"code":"internal","message":"internal error"}}"#,
            )
        })
        .into()
}

/// Encodes `{"event": ..., "error": {...}}`.
pub fn encode_error(event: &str, error: &ApiError) -> Frame {
    serde_json::to_string(&ErrorOut { event, error })
        .unwrap_or_else(|_| {
            String::from(
                r#"{"event":"error","error":{"code":"internal","message":"internal error"}}"#,
            )
        })
        .into()
}

/// The `hello` frame the server sends first on every connection: the protocol version, the
/// connection's user and every limit the server enforces (durations in milliseconds).
pub fn hello_frame(user: Option<&User>, limits: &Limits) -> Frame {
    let data = serde_json::json!({
        "protocol": PROTOCOL_VERSION,
        "server": SERVER_NAME,
        "user": user,
        "limits": limits_json(limits),
    });
    encode_reply("hello", &data)
}

/// Every limit, under the names `hello` advertises them by.
pub fn limits_json(limits: &Limits) -> Value {
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    serde_json::json!({
        "max_message_bytes": limits.max_message_bytes,
        "page_size": limits.page_size,
        "max_page_size": limits.max_page_size,
        "max_list_size": limits.max_list_size,
        "max_subscriptions": limits.max_subscriptions,
        "max_in_list": limits.max_in_list,
        "max_filter_bytes": limits.max_filter_bytes,
        "max_filter_depth": limits.max_filter_depth,
        "max_relation_depth": limits.max_relation_depth,
        "max_include_rows": limits.max_include_rows,
        "outbound_queue": limits.outbound_queue,
        "outbound_queue_bytes": limits.outbound_queue_bytes,
        "max_subscription_bytes": limits.max_subscription_bytes,
        "max_live_queries": limits.max_live_queries,
        "max_live_queries_per_user": limits.max_live_queries_per_user,
        "refresh_concurrency": limits.refresh_concurrency,
        "max_connections": limits.max_connections,
        "max_connections_per_user": limits.max_connections_per_user,
        "requests_per_second": limits.requests_per_second,
        "request_burst": limits.request_burst,
        "user_requests_per_second": limits.user_requests_per_second,
        "ping_interval_ms": millis(limits.ping_interval),
        "idle_timeout_ms": millis(limits.idle_timeout),
        "request_id_window_ms": millis(limits.request_id_window),
        "max_request_ids": limits.max_request_ids,
        "max_request_ids_per_user": limits.max_request_ids_per_user,
        "max_request_id_bytes": limits.max_request_id_bytes,
        "max_request_id_length": limits.max_request_id_length,
        "max_batch_steps": limits.max_batch_steps,
        "auth_expiry_warning_ms": millis(limits.auth_expiry_warning),
        "max_token_bytes": limits.max_token_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    fn code_of(text: &str) -> (String, ErrorCode) {
        let e = decode_inbound(text).unwrap_err();
        (e.event, e.error.code)
    }

    #[test]
    fn hello_advertises_every_limit_by_its_documented_name() {
        let hello: Value = serde_json::from_str(hello_frame(None, &Limits::default()).as_str())
            .expect("hello is JSON");
        let limits = hello["data"]["limits"].as_object().expect("limits object");
        let mut names: Vec<&str> = limits.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "auth_expiry_warning_ms",
                "idle_timeout_ms",
                "max_batch_steps",
                "max_connections",
                "max_connections_per_user",
                "max_filter_bytes",
                "max_filter_depth",
                "max_in_list",
                "max_include_rows",
                "max_list_size",
                "max_live_queries",
                "max_live_queries_per_user",
                "max_message_bytes",
                "max_page_size",
                "max_relation_depth",
                "max_request_id_bytes",
                "max_request_id_length",
                "max_request_ids",
                "max_request_ids_per_user",
                "max_subscription_bytes",
                "max_subscriptions",
                "max_token_bytes",
                "outbound_queue",
                "outbound_queue_bytes",
                "page_size",
                "ping_interval_ms",
                "refresh_concurrency",
                "request_burst",
                "request_id_window_ms",
                "requests_per_second",
                "user_requests_per_second",
            ]
        );
        assert_eq!(limits["idle_timeout_ms"], 60_000);
        assert!(limits.values().all(Value::is_u64));
    }

    #[test]
    fn decodes_a_full_frame() {
        let f = decode_inbound(r#"{"event":"shop.Item.search#l","data":{"page":2}}"#).unwrap();
        assert_eq!(f.event.to_string(), "shop.Item.search#l");
        assert_eq!(f.data["page"], 2);
    }

    #[test]
    fn missing_or_null_data_is_an_empty_object() {
        assert!(decode_inbound(r#"{"event":"a.b"}"#)
            .unwrap()
            .data
            .is_empty());
        assert!(decode_inbound(r#"{"event":"a.b","data":null}"#)
            .unwrap()
            .data
            .is_empty());
    }

    #[test]
    fn bad_frames_get_the_protocol_errors() {
        assert_eq!(code_of("nope"), ("error".into(), ErrorCode::BadRequest));
        assert_eq!(code_of("[1,2]"), ("error".into(), ErrorCode::BadRequest));
        assert_eq!(
            code_of(r#"{"data":{}}"#),
            ("error".into(), ErrorCode::BadRequest)
        );
        assert_eq!(
            code_of(r#"{"event":5}"#),
            ("error".into(), ErrorCode::BadRequest)
        );
        assert_eq!(
            code_of(r#"{"event":"nodot"}"#),
            ("nodot".into(), ErrorCode::UnknownEvent)
        );
        assert_eq!(
            code_of(r#"{"event":"a.b","data":[1]}"#),
            ("a.b".into(), ErrorCode::BadRequest)
        );
    }

    #[test]
    fn errors_encode_without_empty_fields() {
        let f = encode_error("a.b#h", &ApiError::not_found());
        assert_eq!(
            f.as_str(),
            r#"{"event":"a.b#h","error":{"code":"not_found","message":"no such row"}}"#
        );
    }

    #[test]
    fn hello_names_the_user_and_limits() {
        let f = hello_frame(None, &Limits::default());
        let v: Value = serde_json::from_str(f.as_str()).unwrap();
        assert_eq!(v["event"], "hello");
        assert_eq!(v["data"]["protocol"], 1);
        assert!(v["data"]["user"].is_null());
        assert_eq!(v["data"]["limits"]["page_size"], 25);
    }

    proptest::proptest! {
        /// Any text is a frame or a decode error.
        #[test]
        fn any_text_decodes_or_is_refused(text in "\\PC*") {
            let _ = decode_inbound(&text);
        }

        /// Any JSON document is a frame or a decode error, and a refusal still encodes.
        #[test]
        fn any_json_decodes_or_is_refused(value in crate::arbitrary::json(), event in "\\PC{0,12}") {
            let mut frames = vec![value.clone()];
            if let Value::Object(mut obj) = value.clone() {
                obj.insert("event".into(), Value::String(event));
                frames.push(Value::Object(obj));
            }
            frames.push(serde_json::json!({"event": "a.b", "data": value}));
            for frame in frames {
                if let Err(e) = decode_inbound(&frame.to_string()) {
                    let out: Value = serde_json::from_str(encode_error(&e.event, &e.error).as_str()).unwrap();
                    proptest::prop_assert_eq!(&out["event"], &Value::String(e.event));
                }
            }
        }

        /// A valid frame decodes to what was sent.
        #[test]
        fn valid_frames_round_trip(
            stream in "[a-z_]{1,8}(\\.[A-Za-z]{1,8}){0,2}",
            action in "[a-z_]{1,12}",
            hash in proptest::option::of("[A-Za-z0-9_.:-]{1,128}"),
            data in crate::arbitrary::json_object(),
        ) {
            let name = EventName::new(&stream, &action, hash.as_deref());
            let text = encode_reply(&name.to_string(), &data);
            let frame = decode_inbound(text.as_str()).unwrap();
            proptest::prop_assert_eq!(frame, Inbound { event: name, data });
        }
    }
}
