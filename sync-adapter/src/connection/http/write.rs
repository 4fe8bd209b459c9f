//! Responses on the wire, written the way hyper writes them under the async adapter: the same
//! status line, header names in lower case and in the engine's order, `connection` for
//! keep-alive, then `content-length` and `date`. Only the date differs between the adapters.

use std::io::Write as _;

use chanbind_engine::http::HttpResponse;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE};
use http::{HeaderValue, StatusCode, Version};

use super::head::has_token;

/// What the request says about how to answer it.
#[derive(Debug, Clone, Copy)]
pub(in crate::connection) struct Framing {
    /// The request's version: an HTTP/1.0 client is answered in HTTP/1.0.
    pub(in crate::connection) version: Version,
    /// A HEAD request: the headers of the body it would have had, and no body.
    pub(in crate::connection) head: bool,
    /// Whether the response tells the client the connection stays open. hyper announces
    /// only a close the client asked for (or a shutdown); one that follows a body left
    /// unread comes unannounced, so the same holds here.
    pub(in crate::connection) keep_alive: bool,
}

/// The interim answer to `Expect: 100-continue`, as hyper sends it.
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Encodes `response`.
pub(in crate::connection) fn encode(response: HttpResponse, framing: Framing) -> Vec<u8> {
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    let headers = &mut parts.headers;
    // What hyper adds: HTTP/1.0 clients that asked to keep the connection are told it is
    // kept; HTTP/1.1 clients are told when it is not.
    if framing.version == Version::HTTP_10 {
        if framing.keep_alive
            && !headers
                .get_all(CONNECTION)
                .iter()
                .any(|v| has_token(v, "keep-alive"))
        {
            headers.append(CONNECTION, HeaderValue::from_static("keep-alive"));
        }
    } else if !framing.keep_alive
        && !headers
            .get_all(CONNECTION)
            .iter()
            .any(|v| has_token(v, "close"))
    {
        headers.append(CONNECTION, HeaderValue::from_static("close"));
    }

    let mut out = Vec::with_capacity(128 + body.len());
    let version = if framing.version == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let reason = status.canonical_reason().unwrap_or("<none>");
    let _ = write!(out, "{version} {} {reason}\r\n", status.as_str());

    let no_length = status.is_informational()
        || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    let mut wrote_length = false;
    let mut wrote_date = false;
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        if name == CONTENT_LENGTH {
            // hyper trusts the engine's length when there is a body, keeps it on an empty HEAD
            // answer (it is GET's length), and drops it on any other empty answer.
            if !body.is_empty() || framing.head {
                let value = values.next().map(HeaderValue::as_bytes).unwrap_or_default();
                line(&mut out, name.as_str(), value);
                wrote_length = true;
            }
        } else if name == CONNECTION {
            let joined: Vec<&[u8]> = values.map(HeaderValue::as_bytes).collect();
            line(&mut out, name.as_str(), &joined.join(&b", "[..]));
        } else {
            wrote_date |= name == DATE;
            for value in values {
                line(&mut out, name.as_str(), value.as_bytes());
            }
        }
    }
    if !wrote_length && !no_length && (!body.is_empty() || !framing.head) {
        line(
            &mut out,
            "content-length",
            body.len().to_string().as_bytes(),
        );
    }
    if !wrote_date {
        let now = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
        line(&mut out, "date", now.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !framing.head && !no_length {
        out.extend_from_slice(&body);
    }
    out
}

fn line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The response without its date line.
    fn text(response: HttpResponse, framing: Framing) -> String {
        let text = String::from_utf8(encode(response, framing)).unwrap();
        let start = text.find("date: ").unwrap();
        let end = start + text[start..].find("\r\n").unwrap() + 2;
        format!("{}{}", &text[..start], &text[end..])
    }

    const KEEP: Framing = Framing {
        version: Version::HTTP_11,
        head: false,
        keep_alive: true,
    };

    #[test]
    fn bodies_get_their_length_and_closing_is_said() {
        let json = chanbind_engine::http::json(StatusCode::NOT_FOUND, &serde_json::json!({"a": 1}));
        let t = text(json.clone(), KEEP);
        assert_eq!(
            t,
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
        );
        let close = Framing {
            keep_alive: false,
            ..KEEP
        };
        let t = text(json.clone(), close);
        assert!(t.contains(
            "content-type: application/json\r\nconnection: close\r\ncontent-length: 7\r\n"
        ));
        let head = Framing { head: true, ..KEEP };
        let t = text(json, head);
        assert!(t.ends_with("content-length: 7\r\n\r\n"), "{t}");
    }

    #[test]
    fn http10_keep_alive_is_confirmed() {
        let framing = Framing {
            version: Version::HTTP_10,
            head: false,
            keep_alive: true,
        };
        let empty = http::Response::new(Vec::new());
        let t = text(empty, framing);
        assert_eq!(
            t,
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
        );
    }
}
