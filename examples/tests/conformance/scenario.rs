//! Reading a scenario file into steps. Unknown keys are refused so a typo in a data file
//! fails loudly instead of silently testing less.

use std::path::Path;
use std::time::Duration;

use chanbind_engine::config::Limits;
use serde_json::{Map, Value};

/// One scenario file.
#[derive(Debug)]
pub struct Scenario {
    /// What the scenario proves (shown when it fails).
    pub description: String,
    /// With `"auth"`, the server enforces the demo's permission policy with these tokens;
    /// without, it is the open playground.
    pub auth: Option<AuthSetup>,
    /// The server's limits: the defaults, with the scenario's `"limits"` applied.
    pub limits: Limits,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// A scenario's `"auth"`: the demo runs with `Policy::Enforced`, these tokens, and anonymous
/// connections allowed or not.
#[derive(Debug, Clone)]
pub struct AuthSetup {
    /// `(user name, secret)`, sorted by name: users missing from the seed are created in
    /// this order (after the seed's 101 users, so the first new one is id 102).
    pub tokens: Vec<(String, String)>,
    /// Whether connections without a recognised token are let in (else HTTP 401).
    pub anonymous: bool,
}

impl AuthSetup {
    /// The user name whose secret is `token`.
    pub fn user_of(&self, token: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(_, secret)| secret == token)
            .map(|(name, _)| name.as_str())
    }
}

/// How a step's token travels on the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer <token>` (the default).
    Header,
    /// The `token` query parameter, percent-encoded: `ws://host/?token=...`.
    Query,
    /// The `token` cookie: `Cookie: token=<token>`.
    Cookie,
    /// The token is the whole `Authorization` header value, as is (`Basic abc`, `Bearer`),
    /// for malformed headers.
    Authorization,
}

/// Credentials a connection presents on its handshake.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The token text.
    pub token: String,
    /// Where it goes.
    pub via: Via,
}

/// One step on one named connection, or one HTTP request.
#[derive(Debug)]
pub struct Step {
    /// The connection's name; it is opened on first use. Empty for an [`Action::Http`] step,
    /// which is a request of its own on a connection of its own.
    pub conn: String,
    /// What to do.
    pub action: Action,
    /// A free-text note shown when the step fails.
    pub note: Option<String>,
    /// Credentials for the handshake; only on a step that opens its connection, or on
    /// `expect_refused`.
    pub credentials: Option<Credentials>,
    /// A pattern for the `hello` frame's `data.user`; only on a step that opens its
    /// connection. Without it, the runner expects the token's user (`{"id": integer,
    /// "name": ...}`) for a token of the `"auth"` table sent by header, query or cookie, and
    /// `null` otherwise.
    pub hello: Option<Value>,
}

/// What a step does.
#[derive(Debug)]
pub enum Action {
    /// Send this JSON value as a text frame (after substitution).
    Send(Value),
    /// Send this text as a text frame, as is.
    SendRaw(String),
    /// Send this text's bytes as a binary frame.
    SendBinary(String),
    /// Send a text frame of exactly `bytes` bytes: `frame` (or a filler object) padded with
    /// trailing spaces, which keeps it valid JSON.
    SendLarge {
        /// The frame's size in bytes.
        bytes: usize,
        /// The JSON to pad; `{"pad": "xxx..."}` when absent.
        frame: Option<Value>,
    },
    /// The next frame must match.
    Expect(Value),
    /// The next `n` frames must match these `n` patterns, in any order.
    ExpectUnordered(Vec<Value>),
    /// The next frame must be a close frame with this code.
    ExpectClose(u16),
    /// No frame may arrive for this many milliseconds.
    ExpectSilence(u64),
    /// Read nothing for this many milliseconds, so no ping is answered.
    Stall(u64),
    /// Close the connection (a normal close).
    Close,
    /// Opening the connection must be refused with this HTTP status (no WebSocket).
    ExpectRefused(u16),
    /// One HTTP request on a connection of its own, and what its response must be.
    Http(HttpStep),
}

/// An `"http"` step: one HTTP/1.1 request (`Connection: close`) to the server's port and the
/// `"expect"` its response must meet.
#[derive(Debug)]
pub struct HttpStep {
    /// The method, as given (`GET`, `PATCH`, ...).
    pub method: String,
    /// The request target: a path with its query string, sent as written (percent-encode it
    /// yourself) after substituting captures.
    pub path: String,
    /// A token, placed where `via` says (an `Authorization` header by default).
    pub credentials: Option<Credentials>,
    /// Extra headers, by name (a JSON object keeps no order); `None` removes a header the runner would send by default
    /// (`Content-Type`).
    pub headers: Vec<(String, Option<String>)>,
    /// The body to send.
    pub body: HttpBody,
    /// The response's status.
    pub status: u16,
    /// Patterns for response headers, by lower-case name (`"$absent"` for a missing one).
    pub expect_headers: Map<String, Value>,
    /// A pattern for the response body parsed as JSON (`"$absent"` for an empty body);
    /// unchecked when `None`.
    pub expect_body: Option<Value>,
}

/// What an HTTP step sends as its body.
#[derive(Debug)]
pub enum HttpBody {
    /// No body.
    None,
    /// This JSON value (after substitution), with `Content-Type: application/json`.
    Json(Value),
    /// This text as is, with `Content-Type: application/json` unless `headers` says otherwise.
    Raw(String),
}

const ACTIONS: [&str; 12] = [
    "send",
    "send_raw",
    "send_binary",
    "send_large",
    "expect",
    "expect_unordered",
    "expect_close",
    "expect_silence_ms",
    "stall_ms",
    "close",
    "expect_refused",
    "http",
];

/// The `"limits"` a scenario may set, each a positive integer (durations in milliseconds).
const LIMITS: [&str; 31] = [
    "max_message_bytes",
    "page_size",
    "max_page_size",
    "max_list_size",
    "max_subscriptions",
    "max_in_list",
    "max_filter_bytes",
    "max_filter_depth",
    "max_relation_depth",
    "max_include_rows",
    "outbound_queue",
    "outbound_queue_bytes",
    "max_subscription_bytes",
    "max_live_queries",
    "max_live_queries_per_user",
    "refresh_concurrency",
    "max_connections",
    "max_connections_per_user",
    "requests_per_second",
    "request_burst",
    "user_requests_per_second",
    "ping_interval_ms",
    "idle_timeout_ms",
    "request_id_window_ms",
    "max_request_ids",
    "max_request_ids_per_user",
    "max_request_id_bytes",
    "max_request_id_length",
    "max_batch_steps",
    "auth_expiry_warning_ms",
    "max_token_bytes",
];

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Scenario::parse(&value).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks a scenario's JSON.
    pub fn parse(value: &Value) -> Result<Scenario, String> {
        let obj = value.as_object().ok_or("a scenario is a JSON object")?;
        only_keys(
            obj,
            &["description", "auth", "limits", "steps"],
            "the scenario",
        )?;
        let description = obj
            .get("description")
            .and_then(Value::as_str)
            .ok_or("\"description\" (a string) is required")?
            .to_owned();
        let steps = obj
            .get("steps")
            .and_then(Value::as_array)
            .ok_or("\"steps\" (a list) is required")?
            .iter()
            .enumerate()
            .map(|(i, step)| parse_step(step).map_err(|e| format!("step {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() {
            return Err("a scenario needs at least one step".into());
        }
        let auth = obj.get("auth").map(parse_auth).transpose()?;
        let limits = parse_limits(obj.get("limits"))?;
        Ok(Scenario {
            description,
            auth,
            limits,
            steps,
        })
    }
}

fn parse_auth(value: &Value) -> Result<AuthSetup, String> {
    let obj = value
        .as_object()
        .ok_or("\"auth\" is an object: {\"tokens\": {name: secret}, \"anonymous\": bool}")?;
    only_keys(obj, &["tokens", "anonymous"], "\"auth\"")?;
    let table = obj
        .get("tokens")
        .and_then(Value::as_object)
        .ok_or("\"auth\".\"tokens\" (an object of user name to secret) is required")?;
    let mut tokens = Vec::with_capacity(table.len());
    for (name, secret) in table {
        match secret.as_str() {
            Some(secret) if !name.is_empty() && !secret.is_empty() => {
                tokens.push((name.clone(), secret.to_owned()));
            }
            _ => {
                return Err(format!(
                    "auth token of {name:?}: a non-empty string is required"
                ))
            }
        }
    }
    tokens.sort();
    let anonymous = match obj.get("anonymous") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"auth\".\"anonymous\" must be true or false".into()),
    };
    Ok(AuthSetup { tokens, anonymous })
}

fn parse_limits(value: Option<&Value>) -> Result<Limits, String> {
    let mut limits = Limits::default();
    let Some(value) = value else {
        return Ok(limits);
    };
    let obj = value
        .as_object()
        .ok_or("\"limits\" is an object of limit names to numbers")?;
    only_keys(obj, &LIMITS, "\"limits\"")?;
    for (name, n) in obj {
        let n = n
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("limit {name:?} must be a positive integer"))?;
        let size = usize::try_from(n).map_err(|_| format!("limit {name:?} is too large"))?;
        let rate = u32::try_from(n).map_err(|_| format!("limit {name:?} is too large"))?;
        match name.as_str() {
            "max_message_bytes" => limits.max_message_bytes = size,
            "page_size" => limits.page_size = n,
            "max_page_size" => limits.max_page_size = n,
            "max_list_size" => limits.max_list_size = n,
            "max_subscriptions" => limits.max_subscriptions = size,
            "max_in_list" => limits.max_in_list = size,
            "max_filter_bytes" => limits.max_filter_bytes = size,
            "max_filter_depth" => limits.max_filter_depth = size,
            "max_relation_depth" => limits.max_relation_depth = size,
            "max_include_rows" => limits.max_include_rows = n,
            "outbound_queue" => limits.outbound_queue = size,
            "outbound_queue_bytes" => limits.outbound_queue_bytes = size,
            "max_subscription_bytes" => limits.max_subscription_bytes = size,
            "max_live_queries" => limits.max_live_queries = size,
            "max_live_queries_per_user" => limits.max_live_queries_per_user = size,
            "refresh_concurrency" => limits.refresh_concurrency = size,
            "max_connections" => limits.max_connections = size,
            "max_connections_per_user" => limits.max_connections_per_user = size,
            "requests_per_second" => limits.requests_per_second = rate,
            "request_burst" => limits.request_burst = rate,
            "user_requests_per_second" => limits.user_requests_per_second = rate,
            "ping_interval_ms" => limits.ping_interval = Duration::from_millis(n),
            "idle_timeout_ms" => limits.idle_timeout = Duration::from_millis(n),
            "request_id_window_ms" => limits.request_id_window = Duration::from_millis(n),
            "max_request_ids" => limits.max_request_ids = size,
            "max_request_ids_per_user" => limits.max_request_ids_per_user = size,
            "max_request_id_bytes" => limits.max_request_id_bytes = size,
            "max_request_id_length" => limits.max_request_id_length = size,
            "max_batch_steps" => limits.max_batch_steps = size,
            "auth_expiry_warning_ms" => limits.auth_expiry_warning = Duration::from_millis(n),
            "max_token_bytes" => limits.max_token_bytes = size,
            _ => unreachable!("only_keys checked the name"),
        }
    }
    Ok(limits)
}

/// A step's `"token"`: a string, or `{"repeat": "text", "times": N}` for a long one.
fn parse_token(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Object(obj) => {
            only_keys(obj, &["repeat", "times"], "\"token\"")?;
            let text = obj
                .get("repeat")
                .and_then(Value::as_str)
                .ok_or("token: \"repeat\" takes a string")?;
            let times = obj
                .get("times")
                .and_then(Value::as_u64)
                .ok_or("token: \"times\" takes a count")?;
            Ok(text.repeat(times as usize))
        }
        _ => Err("\"token\" takes a string or {\"repeat\": text, \"times\": N}".into()),
    }
}

fn parse_via(value: Option<&Value>) -> Result<Via, String> {
    match value.map(|v| v.as_str()) {
        None | Some(Some("header")) => Ok(Via::Header),
        Some(Some("query")) => Ok(Via::Query),
        Some(Some("cookie")) => Ok(Via::Cookie),
        Some(Some("authorization")) => Ok(Via::Authorization),
        Some(_) => {
            Err("\"via\" is one of \"header\", \"query\", \"cookie\", \"authorization\"".into())
        }
    }
}

fn parse_credentials(obj: &Map<String, Value>) -> Result<Option<Credentials>, String> {
    let via = parse_via(obj.get("via"))?;
    match obj.get("token") {
        Some(token) => Ok(Some(Credentials {
            token: parse_token(token)?,
            via,
        })),
        None if obj.contains_key("via") => Err("\"via\" needs a \"token\"".into()),
        None => Ok(None),
    }
}

/// `{"http": {...request}, "expect": {"status", "headers", "body"}, "note"}`.
fn parse_http_step(obj: &Map<String, Value>, note: Option<String>) -> Result<Step, String> {
    only_keys(obj, &["http", "expect", "note"], "an http step")?;
    let request = obj["http"]
        .as_object()
        .ok_or("\"http\" takes an object: {\"method\", \"path\", ...}")?;
    only_keys(
        request,
        &["method", "path", "token", "via", "headers", "body", "raw"],
        "\"http\"",
    )?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or("\"http\".\"method\" (GET, POST, ...) is required")?
        .to_owned();
    let path = request
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| p.starts_with('/') && !p.contains([' ', '\r', '\n']))
        .ok_or("\"http\".\"path\" (a path starting with /, no spaces) is required")?
        .to_owned();
    let credentials = parse_credentials(request)?;
    let mut headers = Vec::new();
    if let Some(given) = request.get("headers") {
        let given = given
            .as_object()
            .ok_or("\"http\".\"headers\" takes an object of names to strings (or null)")?;
        for (name, value) in given {
            let value = match value {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                _ => return Err(format!("header {name:?}: a string, or null to send none")),
            };
            headers.push((name.clone(), value));
        }
    }
    let body = match (request.get("body"), request.get("raw")) {
        (Some(_), Some(_)) => return Err("\"http\" takes \"body\" or \"raw\", not both".into()),
        (Some(body), None) => HttpBody::Json(body.clone()),
        (None, Some(raw)) => HttpBody::Raw(string(raw, "raw")?),
        (None, None) => HttpBody::None,
    };
    let expect = obj
        .get("expect")
        .and_then(Value::as_object)
        .ok_or("an http step needs \"expect\": {\"status\": 200, ...}")?;
    only_keys(
        expect,
        &["status", "headers", "body"],
        "an http step's \"expect\"",
    )?;
    let status = expect
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..600).contains(s))
        .ok_or("an http step's \"expect\".\"status\" (an HTTP status) is required")?;
    let expect_headers = match expect.get("headers") {
        None => Map::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        Some(_) => {
            return Err("\"expect\".\"headers\" takes an object of names to patterns".into())
        }
    };
    Ok(Step {
        conn: String::new(),
        action: Action::Http(HttpStep {
            method,
            path,
            credentials,
            headers,
            body,
            status,
            expect_headers,
            expect_body: expect.get("body").cloned(),
        }),
        note,
        credentials: None,
        hello: None,
    })
}

fn parse_step(value: &Value) -> Result<Step, String> {
    let obj = value.as_object().ok_or("a step is a JSON object")?;
    let note = match obj.get("note") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"note\" must be a string".into()),
    };
    if obj.contains_key("http") {
        return parse_http_step(obj, note);
    }
    let conn = obj
        .get("conn")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or("\"conn\" (a connection name) is required")?
        .to_owned();
    let present: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| obj.contains_key(*a))
        .collect();
    let [name] = present[..] else {
        let keys: Vec<&String> = obj.keys().collect();
        return Err(format!(
            "a step needs exactly one of {ACTIONS:?}; its keys are {keys:?}"
        ));
    };
    let mut allowed = vec!["conn", "note", "token", "via", name];
    if name == "send_large" {
        allowed.push("frame");
    }
    if name != "expect_refused" {
        allowed.push("hello");
    }
    only_keys(obj, &allowed, "a step")?;
    let credentials = parse_credentials(obj)?;
    let hello = obj.get("hello").cloned();
    let arg = &obj[name];
    let action = match name {
        "send" => match arg {
            Value::Object(_) => Action::Send(arg.clone()),
            _ => return Err("send takes a JSON object (use send_raw for anything else)".into()),
        },
        "send_raw" => Action::SendRaw(string(arg, name)?),
        "send_binary" => Action::SendBinary(string(arg, name)?),
        "send_large" => Action::SendLarge {
            bytes: arg.as_u64().ok_or("send_large takes a byte count")? as usize,
            frame: obj.get("frame").cloned(),
        },
        "expect" => Action::Expect(arg.clone()),
        "expect_unordered" => match arg {
            Value::Array(items) if !items.is_empty() => Action::ExpectUnordered(items.clone()),
            _ => return Err("expect_unordered takes a non-empty list of patterns".into()),
        },
        "expect_close" => Action::ExpectClose(
            arg.as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .ok_or("expect_close takes a close code")?,
        ),
        "expect_silence_ms" => {
            Action::ExpectSilence(arg.as_u64().ok_or("expect_silence_ms takes milliseconds")?)
        }
        "stall_ms" => Action::Stall(arg.as_u64().ok_or("stall_ms takes milliseconds")?),
        "close" => match arg {
            Value::Bool(true) => Action::Close,
            _ => return Err("close takes true".into()),
        },
        "expect_refused" => Action::ExpectRefused(
            arg.as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..600).contains(c))
                .ok_or("expect_refused takes an HTTP error status (401)")?,
        ),
        _ => unreachable!("every action is handled; http steps are parsed above"),
    };
    Ok(Step {
        conn,
        action,
        note,
        credentials,
        hello,
    })
}

fn string(value: &Value, name: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{name} takes a string"))
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "unknown key {key:?} in {what} (allowed: {allowed:?})"
        )),
        None => Ok(()),
    }
}

/// The frame `send_large` sends: `frame` padded with spaces to exactly `bytes` bytes.
pub fn large_frame(bytes: usize, frame: Option<&Value>) -> Result<String, String> {
    let mut text = match frame {
        Some(frame) => frame.to_string(),
        None => {
            let skeleton = r#"{"pad":""}"#;
            let fill = bytes.saturating_sub(skeleton.len());
            format!(r#"{{"pad":"{}"}}"#, "x".repeat(fill))
        }
    };
    if text.len() > bytes {
        return Err(format!(
            "send_large: the frame is already {} bytes, more than {bytes}",
            text.len()
        ));
    }
    text.extend(std::iter::repeat_n(' ', bytes - text.len()));
    Ok(text)
}

/// The scenario reader's own tests, run as trials of the suite (`runner::...`).
pub mod selftest {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Scenario, String> {
        Scenario::parse(&value)
    }

    fn step(step: Value) -> Result<Step, String> {
        parse(json!({"description": "t", "steps": [step]})).map(|mut s| s.steps.remove(0))
    }

    /// Every test, by name.
    pub fn all() -> Vec<(&'static str, fn())> {
        vec![
            ("auth_tokens_and_anonymous", auth_tokens_and_anonymous),
            ("limits_override_defaults", limits_override_defaults),
            ("step_credentials", step_credentials),
            (
                "expect_refused_takes_a_status",
                expect_refused_takes_a_status,
            ),
            ("http_steps", http_steps),
        ]
    }

    fn http_steps() {
        let s = step(json!({
            "http": {"method": "PATCH", "path": "/api/todo.Task/${id}", "token": "t", "via": "cookie",
                     "headers": {"X-A": "1", "Content-Type": null}, "body": {"done": true}},
            "expect": {"status": 200, "headers": {"Allow": "$string"}, "body": {"success": true}},
            "note": "n"
        }))
        .unwrap();
        assert_eq!(s.conn, "", "an http step has no connection");
        assert_eq!(s.note.as_deref(), Some("n"));
        let Action::Http(h) = s.action else {
            panic!("an http step")
        };
        assert_eq!(
            (h.method.as_str(), h.path.as_str(), h.status),
            ("PATCH", "/api/todo.Task/${id}", 200)
        );
        assert_eq!(h.credentials.unwrap().via, Via::Cookie);
        assert_eq!(
            h.headers,
            [
                ("Content-Type".to_owned(), None),
                ("X-A".to_owned(), Some("1".to_owned()))
            ]
        );
        assert!(matches!(h.body, HttpBody::Json(_)));
        assert!(
            h.expect_headers.contains_key("allow"),
            "header names are lower-cased"
        );
        assert_eq!(h.expect_body, Some(json!({"success": true})));
        let s = step(json!({"http": {"method": "POST", "path": "/api/events", "raw": "{"}, "expect": {"status": 400}})).unwrap();
        let Action::Http(h) = s.action else {
            panic!("an http step")
        };
        assert!(matches!(h.body, HttpBody::Raw(ref r) if r == "{"));
        assert!(
            h.expect_body.is_none(),
            "no body pattern: the body is not checked"
        );
        for bad in [
            json!({"http": {"method": "GET", "path": "/api/"}}),
            json!({"http": {"method": "GET", "path": "/api/"}, "expect": {}}),
            json!({"http": {"method": "GET", "path": "/api/"}, "expect": {"status": 99}}),
            json!({"http": {"method": "GET", "path": "/api/"}, "expect": {"status": 200, "bdy": 1}}),
            json!({"http": {"method": "GET", "path": "api"}, "expect": {"status": 200}}),
            json!({"http": {"method": "GET", "path": "/a b"}, "expect": {"status": 200}}),
            json!({"http": {"path": "/api/"}, "expect": {"status": 200}}),
            json!({"http": {"method": "GET", "path": "/api/", "body": {}, "raw": ""}, "expect": {"status": 200}}),
            json!({"http": {"method": "GET", "path": "/api/", "via": "query"}, "expect": {"status": 200}}),
            json!({"http": {"method": "GET", "path": "/api/", "headers": {"X": 1}}, "expect": {"status": 200}}),
            json!({"http": {"method": "GET", "path": "/api/", "methd": "GET"}, "expect": {"status": 200}}),
            json!({"conn": "a", "http": {"method": "GET", "path": "/api/"}, "expect": {"status": 200}}),
        ] {
            assert!(step(bad.clone()).is_err(), "{bad} should be refused");
        }
    }

    fn auth_tokens_and_anonymous() {
        let s =
            parse(json!({"description": "t", "steps": [{"conn": "a", "close": true}]})).unwrap();
        assert!(s.auth.is_none(), "no auth: the open playground");
        let s = parse(json!({
            "description": "t",
            "auth": {"tokens": {"bob": "b", "alice": "a", "admin": "x"}},
            "steps": [{"conn": "a", "close": true}]
        }))
        .unwrap();
        let auth = s.auth.unwrap();
        let names: Vec<&str> = auth.tokens.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["admin", "alice", "bob"],
            "users are created in name order"
        );
        assert!(auth.anonymous, "anonymous defaults to true");
        assert_eq!(auth.user_of("a"), Some("alice"));
        assert_eq!(auth.user_of("nope"), None);
        for bad in [
            json!({"tokens": {"a": ""}}),
            json!({"tokens": {"a": 1}}),
            json!({"tokens": {}, "anonymous": "no"}),
            json!({"tokens": {}, "anon": false}),
            json!({"anonymous": false}),
        ] {
            let e = parse(
                json!({"description": "t", "auth": bad, "steps": [{"conn": "a", "close": true}]}),
            );
            assert!(e.is_err(), "{bad} should be refused");
        }
    }

    fn limits_override_defaults() {
        let s = parse(json!({
            "description": "t",
            "limits": {"max_subscriptions": 3, "page_size": 10},
            "steps": [{"conn": "a", "close": true}]
        }))
        .unwrap();
        assert_eq!(s.limits.max_subscriptions, 3);
        assert_eq!(s.limits.page_size, 10);
        assert_eq!(s.limits.max_page_size, Limits::default().max_page_size);
        for bad in [
            json!({"max_subs": 3}),
            json!({"max_subscriptions": 0}),
            json!({"page_size": "x"}),
        ] {
            let e = parse(
                json!({"description": "t", "limits": bad, "steps": [{"conn": "a", "close": true}]}),
            );
            assert!(e.is_err(), "{bad} should be refused");
        }
    }

    fn step_credentials() {
        let s = step(json!({"conn": "a", "token": "t", "send": {}})).unwrap();
        let creds = s.credentials.unwrap();
        assert_eq!((creds.token.as_str(), creds.via), ("t", Via::Header));
        let s = step(json!({"conn": "a", "token": "t", "via": "query", "hello": null, "send": {}}))
            .unwrap();
        assert_eq!(s.credentials.unwrap().via, Via::Query);
        assert_eq!(s.hello, Some(Value::Null));
        let s = step(json!({"conn": "a", "token": {"repeat": "ab", "times": 3}, "via": "cookie", "send": {}})).unwrap();
        assert_eq!(s.credentials.unwrap().token, "ababab");
        let s = step(json!({"conn": "a", "token": "Basic x", "via": "authorization", "send": {}}))
            .unwrap();
        assert_eq!(s.credentials.unwrap().via, Via::Authorization);
        assert!(
            step(json!({"conn": "a", "via": "query", "send": {}})).is_err(),
            "via needs a token"
        );
        assert!(step(json!({"conn": "a", "token": "t", "via": "body", "send": {}})).is_err());
        assert!(step(json!({"conn": "a", "token": 5, "send": {}})).is_err());
        assert!(step(json!({"conn": "a", "token": {"repeat": "x"}, "send": {}})).is_err());
    }

    fn expect_refused_takes_a_status() {
        let s = step(json!({"conn": "a", "token": "t", "expect_refused": 401})).unwrap();
        assert!(matches!(s.action, Action::ExpectRefused(401)));
        assert!(step(json!({"conn": "a", "expect_refused": 101})).is_err());
        assert!(step(json!({"conn": "a", "expect_refused": "401"})).is_err());
        assert!(
            step(json!({"conn": "a", "hello": null, "expect_refused": 401})).is_err(),
            "a refused connection has no hello"
        );
    }
}
