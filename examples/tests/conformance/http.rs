//! Playing an `"http"` step: one HTTP/1.1 request on a TCP connection of its own
//! (`Connection: close`, a `Content-Length` body), its response read with `httparse`, and the
//! response matched as `{"status", "headers", "body"}` against the step's `"expect"` with the
//! frame matcher, so captures flow between HTTP and WebSocket steps both ways.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pattern::{self, Captures};
use crate::scenario::{Credentials, HttpBody, HttpStep, Via};

/// How long one request may take, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The most a response may be; the demo's largest (a page of 100 users) is far below.
const MAX_RESPONSE: usize = 8 << 20;

/// A response as the runner saw it.
struct Response {
    status: u16,
    /// Lower-case names; repeated headers joined with `", "`.
    headers: Map<String, Value>,
    body: Vec<u8>,
}

/// Sends the step's request to `addr` and checks its response; captures made by the
/// `"expect"` patterns are added to `caps`.
pub async fn play(addr: SocketAddr, step: &HttpStep, caps: &mut Captures) -> Result<(), String> {
    let request = build(addr, step, caps)?;
    let response = tokio::time::timeout(TIMEOUT, exchange(addr, &request, &step.method))
        .await
        .map_err(|_| format!("no complete response within {} s", TIMEOUT.as_secs()))??;
    check(step, &response, caps)
}

/// The request's bytes, captures substituted into the path, headers, token and body.
fn build(addr: SocketAddr, step: &HttpStep, caps: &Captures) -> Result<Vec<u8>, String> {
    let text = |s: &str| -> Result<String, String> {
        Ok(
            match pattern::substitute(&Value::String(s.to_owned()), caps)? {
                Value::String(s) => s,
                other => other.to_string(),
            },
        )
    };
    let mut path = text(&step.path)?;
    let credentials = match &step.credentials {
        Some(c) => Some(Credentials {
            token: text(&c.token)?,
            via: c.via,
        }),
        None => None,
    };
    let mut defaults: Vec<(String, String)> = vec![
        ("Host".into(), addr.to_string()),
        ("Connection".into(), "close".into()),
    ];
    if let Some(Credentials { token, via }) = &credentials {
        match via {
            Via::Header => defaults.push(("Authorization".into(), format!("Bearer {token}"))),
            Via::Authorization => defaults.push(("Authorization".into(), token.clone())),
            // As a browser sends it: the cookie from a page of the server's own origin.
            Via::Cookie => {
                defaults.push(("Cookie".into(), format!("token={token}")));
                defaults.push(("Origin".into(), format!("http://{addr}")));
            }
            Via::Query => {
                path.push(if path.contains('?') { '&' } else { '?' });
                path.push_str("token=");
                path.push_str(&crate::client::percent_encode(token));
            }
        }
    }
    let body = match &step.body {
        HttpBody::None => None,
        HttpBody::Json(value) => Some(pattern::substitute(value, caps)?.to_string().into_bytes()),
        HttpBody::Raw(raw) => Some(text(raw)?.into_bytes()),
    };
    if body.is_some() {
        defaults.push(("Content-Type".into(), "application/json".into()));
    }
    let sends_length = body.is_some() || matches!(step.method.as_str(), "POST" | "PUT" | "PATCH");
    if sends_length {
        let len = body.as_ref().map_or(0, Vec::len);
        defaults.push(("Content-Length".into(), len.to_string()));
    }
    let mut head = format!("{} {path} HTTP/1.1\r\n", step.method);
    let overridden = |name: &str| {
        step.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    for (name, value) in defaults.iter().filter(|(n, _)| !overridden(n)) {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    for (name, value) in &step.headers {
        if let Some(value) = value {
            let value = text(value)?;
            if value.contains(['\r', '\n']) || name.contains([':', '\r', '\n', ' ']) {
                return Err(format!("header {name:?} cannot be sent as written"));
            }
            let _ = write!(head, "{name}: {value}\r\n");
        }
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend(body.unwrap_or_default());
    Ok(bytes)
}

/// Writes the request and reads one response, framed by `Content-Length`, chunked encoding or
/// the end of the connection.
async fn exchange(addr: SocketAddr, request: &[u8], method: &str) -> Result<Response, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("sending the request failed: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    let mut ended = false;
    loop {
        if !buf.is_empty() {
            if let Some(response) = parse(&buf, method, ended)? {
                return Ok(response);
            }
        }
        if ended {
            return Err(format!(
                "the server closed the connection before a complete response: {}",
                crate::client::clip(&String::from_utf8_lossy(&buf))
            ));
        }
        if buf.len() > MAX_RESPONSE {
            return Err(format!("the response exceeds {MAX_RESPONSE} bytes"));
        }
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk).await {
            Ok(0) => ended = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after a complete response is still that response.
            Err(_) if !buf.is_empty() => ended = true,
            Err(e) => return Err(format!("reading the response failed: {e}")),
        }
    }
}

/// The response in `buf`, `None` while incomplete; `ended` says no more bytes will come.
fn parse(buf: &[u8], method: &str, ended: bool) -> Result<Option<Response>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(format!(
                "the response is not HTTP/1.1 ({e}): {}",
                crate::client::clip(&String::from_utf8_lossy(buf))
            ))
        }
    };
    let status = parsed.code.unwrap_or(0);
    let mut map = Map::new();
    for header in parsed.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(header.value).into_owned();
        match map.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                map.insert(name, Value::String(value));
            }
        }
    }
    let rest = &buf[head_len..];
    let header = |name: &str| map.get(name).and_then(Value::as_str);
    let bodiless = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
    let body = if bodiless {
        Some(Vec::new())
    } else if header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .trim()
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        (rest.len() >= len).then(|| rest[..len].to_vec())
    } else {
        ended.then(|| rest.to_vec())
    };
    Ok(body.map(|body| Response {
        status,
        headers: map,
        body,
    }))
}

/// A chunked body, `None` while incomplete.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&rest[..eol]);
        let size = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size line {line:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(Some(body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Matches `{"status", "headers", "body"}` against the step's expectations.
fn check(step: &HttpStep, response: &Response, caps: &mut Captures) -> Result<(), String> {
    let body_text = String::from_utf8_lossy(&response.body);
    let shown = || {
        format!(
            "\n  received: HTTP {} {}\n  body: {}",
            response.status,
            Value::Object(response.headers.clone()),
            crate::client::clip(&body_text)
        )
    };
    let mut pattern = Map::new();
    let mut actual = Map::new();
    pattern.insert("status".into(), Value::from(step.status));
    actual.insert("status".into(), Value::from(response.status));
    pattern.insert(
        "headers".into(),
        pattern::substitute(&Value::Object(step.expect_headers.clone()), caps)?,
    );
    actual.insert("headers".into(), Value::Object(response.headers.clone()));
    if let Some(expected) = &step.expect_body {
        pattern.insert("body".into(), pattern::substitute(expected, caps)?);
        if !response.body.iter().all(u8::is_ascii_whitespace) && expected == "$absent" {
            // Whatever it is, it is a body where none was expected.
            actual.insert("body".into(), Value::String(body_text.clone().into_owned()));
        } else if !response.body.iter().all(u8::is_ascii_whitespace) {
            let body: Value = serde_json::from_slice(&response.body)
                .map_err(|e| format!("the response body is not JSON ({e}){}", shown()))?;
            let json_type = response
                .headers
                .get("content-type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
            if !json_type {
                return Err(format!(
                    "a JSON body must come with Content-Type: application/json{}",
                    shown()
                ));
            }
            actual.insert("body".into(), body);
        }
    }
    let pattern = Value::Object(pattern);
    pattern::matches(&pattern, &Value::Object(actual), caps).map_err(|e| {
        format!(
            "{e}\n  expected: {}{}",
            crate::client::clip(&pattern.to_string()),
            shown()
        )
    })
}

/// A one-line description of the step, for failure messages.
pub fn describe(step: &HttpStep) -> String {
    let mut text = format!(
        "http {} {} expecting {}",
        step.method, step.path, step.status
    );
    if let Some(creds) = &step.credentials {
        let _ = write!(
            text,
            " (token of {} bytes via {:?})",
            creds.token.len(),
            creds.via
        );
    }
    text
}

/// The response reader's own tests, run as trials of the suite (`runner::...`).
pub mod selftest {
    use super::*;

    /// Every test, by name.
    pub fn all() -> Vec<(&'static str, fn())> {
        vec![("http_responses_are_framed", http_responses_are_framed)]
    }

    fn http_responses_are_framed() {
        let full = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 7\r\nVary: a\r\nvary: b\r\n\r\n{\"a\":1}";
        let r = parse(full, "POST", false).unwrap().expect("complete");
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{\"a\":1}"[..]));
        assert_eq!(r.headers["vary"], "a, b", "repeated headers are joined");
        assert!(
            parse(&full[..full.len() - 1], "POST", false)
                .unwrap()
                .is_none(),
            "a body short of Content-Length is incomplete"
        );
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n";
        let r = parse(head, "HEAD", false)
            .unwrap()
            .expect("HEAD has no body");
        assert!(r.body.is_empty());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse(chunked, "GET", false).unwrap().expect("complete");
        assert_eq!(r.body, b"abcde");
        assert!(parse(&chunked[..chunked.len() - 5], "GET", false)
            .unwrap()
            .is_none());
        let until_eof = b"HTTP/1.1 200 OK\r\n\r\nxyz";
        assert!(parse(until_eof, "GET", false).unwrap().is_none());
        assert_eq!(parse(until_eof, "GET", true).unwrap().unwrap().body, b"xyz");
        assert!(parse(b"garbage\r\n\r\n", "GET", true).is_err());
    }
}
