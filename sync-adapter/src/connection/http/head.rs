//! Request heads: httparse reads the request line and headers, and this turns them into the
//! `http` types the engine takes, with what framing needs: the body's length, keep-alive and
//! `Expect: 100-continue`. Every rule follows hyper's, so both adapters accept, refuse and
//! frame the same requests.

use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version};

/// The most headers a request (or a chunked body's trailer) may have, as in hyper: more is 431.
pub(super) const MAX_HEADERS: usize = 100;

/// The longest request target, as in hyper: longer is 414.
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// The largest `Content-Length` hyper takes.
const MAX_CONTENT_LENGTH: u64 = u64::MAX - 2;

/// How the body that follows a head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLength {
    /// No body: no `Content-Length`, or zero.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    /// What the engine reads: method, target, version and headers.
    pub(super) parts: Parts,
    /// The body's framing.
    pub(super) body: BodyLength,
    /// Whether the client lets the connection carry another request after this one.
    pub(super) keep_alive: bool,
    /// The client waits for `100 Continue` before sending its body.
    pub(super) expect_continue: bool,
}

impl Head {
    /// The method, target, version and headers, without the framing.
    pub(crate) fn into_parts(self) -> Parts {
        self.parts
    }
}

/// What an HTTP/2 client sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the bytes at the start of a connection's buffer come to, as the server reads heads.
#[derive(Debug)]
pub(crate) enum HeadRead {
    /// A head (boxed: it is large beside the others), and its length in bytes.
    Head(Box<Head>, usize),
    /// Not a whole head yet, and still under the limit: read more.
    Partial,
    /// A head to refuse with this status (then close).
    Refuse(StatusCode),
    /// An HTTP/2 client: hyper hangs up on it without an answer it could not read.
    HangUp,
}

/// Reads the head at the start of `buf`, refusing one over `limit` bytes (431) as the server
/// does, whether it is whole or not.
pub(crate) fn read(buf: &[u8], limit: usize) -> HeadRead {
    match parse(buf) {
        Ok(Some((_, len))) if len > limit => {
            HeadRead::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Ok(Some((head, len))) => HeadRead::Head(Box::new(head), len),
        Ok(None) if buf.len() >= limit => {
            HeadRead::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Ok(None) => HeadRead::Partial,
        Err(_) if buf.starts_with(H2_PREFACE) => HeadRead::HangUp,
        Err(status) => HeadRead::Refuse(status),
    }
}

/// Parses the head at the start of `buf`: the head and its length in bytes, `None` while it
/// is incomplete, or the status to refuse it with.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, StatusCode> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Err(_) => return Err(StatusCode::BAD_REQUEST),
    };
    let target = request.path.unwrap_or_default();
    if target.len() > MAX_URI_LEN {
        return Err(StatusCode::URI_TOO_LONG);
    }
    let method = Method::from_bytes(request.method.unwrap_or_default().as_bytes())
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let uri = Uri::try_from(target).map_err(|_| StatusCode::BAD_REQUEST)?;
    let http11 = request.version == Some(1);
    let framing = Framing::read(request.headers, http11)?;
    let mut parts = Request::new(()).into_parts().0;
    parts.method = method;
    parts.uri = uri;
    parts.version = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    parts.headers = framing.headers;
    let body = if framing.chunked {
        BodyLength::Chunked
    } else {
        match framing.content_length {
            None | Some(0) => BodyLength::Empty,
            Some(n) => BodyLength::Length(n),
        }
    };
    let head = Head {
        expect_continue: framing.expect_continue && http11 && body != BodyLength::Empty,
        keep_alive: framing.keep_alive,
        body,
        parts,
    };
    Ok(Some((head, len)))
}

/// The headers, and what they say about framing.
struct Framing {
    headers: HeaderMap,
    keep_alive: bool,
    content_length: Option<u64>,
    chunked: bool,
    expect_continue: bool,
}

impl Framing {
    /// RFC 9112 section 6.3, as hyper applies it: `Transfer-Encoding` wins over
    /// `Content-Length` (and then the connection closes after the request), it must end in
    /// `chunked` and is refused on HTTP/1.0, and differing lengths are refused.
    fn read(raw: &[httparse::Header<'_>], http11: bool) -> Result<Framing, StatusCode> {
        let mut framing = Framing {
            headers: HeaderMap::with_capacity(raw.len()),
            keep_alive: http11,
            content_length: None,
            chunked: false,
            expect_continue: false,
        };
        let (mut has_te, mut has_cl, mut saw_close) = (false, false, false);
        for header in raw {
            let name = HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| StatusCode::BAD_REQUEST)?;
            let value =
                HeaderValue::from_bytes(header.value).map_err(|_| StatusCode::BAD_REQUEST)?;
            match name {
                TRANSFER_ENCODING => {
                    if !http11 {
                        return Err(StatusCode::BAD_REQUEST);
                    }
                    has_te = true;
                    if framing.content_length.take().is_some() {
                        framing.headers.remove(CONTENT_LENGTH);
                    }
                    framing.chunked = last_token_is(&value, "chunked");
                }
                CONTENT_LENGTH => {
                    has_cl = true;
                    if has_te {
                        continue;
                    }
                    let len = content_length(&value).ok_or(StatusCode::BAD_REQUEST)?;
                    match framing.content_length {
                        Some(prev) if prev != len => return Err(StatusCode::BAD_REQUEST),
                        Some(_) => continue,
                        // hyper keeps the two largest values for itself and refuses them as
                        // a head too large.
                        None if len > MAX_CONTENT_LENGTH => {
                            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                        }
                        None => framing.content_length = Some(len),
                    }
                }
                CONNECTION => {
                    // Once any line asks to close, a later `keep-alive` does not undo it.
                    if saw_close || has_token(&value, "close") {
                        saw_close = true;
                        framing.keep_alive = false;
                    } else if !framing.keep_alive {
                        framing.keep_alive = has_token(&value, "keep-alive");
                    }
                }
                EXPECT => {
                    framing.expect_continue =
                        value.as_bytes().eq_ignore_ascii_case(b"100-continue");
                }
                _ => {}
            }
            framing.headers.append(name, value);
        }
        if has_te && !framing.chunked {
            return Err(StatusCode::BAD_REQUEST);
        }
        if has_te && has_cl {
            framing.keep_alive = false;
        }
        Ok(framing)
    }
}

/// Whether a comma-separated header value has `token`, ignoring case.
pub(crate) fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Whether the last of a comma-separated header value's tokens is `token`.
fn last_token_is(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .ok()
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A `Content-Length` value: decimal digits only, no sign, no list.
fn content_length(value: &HeaderValue) -> Option<u64> {
    let digits = value.as_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Head, StatusCode> {
        let (head, len) = parse(raw.as_bytes())?.expect("a whole head");
        assert_eq!(len, raw.len());
        Ok(head)
    }

    #[test]
    fn framing_follows_the_headers() {
        let h = head("POST /api/x HTTP/1.1\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!((h.body, h.keep_alive), (BodyLength::Length(5), true));
        let h = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert_eq!((h.body, h.keep_alive), (BodyLength::Empty, true));
        let h = head("GET / HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n");
        assert!(!h.unwrap().keep_alive);
        let raw =
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let h = head(raw).unwrap();
        assert_eq!((h.body, h.keep_alive), (BodyLength::Chunked, false));
        assert!(!h.parts.headers.contains_key(CONTENT_LENGTH));
        let h = head("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(h.unwrap().expect_continue);
    }

    #[test]
    fn bad_heads_get_their_status() {
        let bad = StatusCode::BAD_REQUEST;
        for raw in [
            "GET / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
        ] {
            assert_eq!(parse(raw.as_bytes()).unwrap_err(), bad, "{raw:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x{i}: y\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse(raw.as_bytes()).unwrap_err(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: x"), Ok(None)));
    }

    /// A request head as a client writes one: a method, a target, headers and a length.
    fn a_head(
    ) -> impl proptest::strategy::Strategy<Value = (String, String, Vec<(String, String)>, u64)>
    {
        (
            "GET|POST|PUT|PATCH|DELETE|OPTIONS|HEAD",
            "/[a-zA-Z0-9._~%/?=&-]{0,64}",
            proptest::collection::vec(("x-[a-z0-9-]{1,16}", "[ -~]{0,32}"), 0..8),
            1..u64::MAX,
        )
    }

    proptest::proptest! {
        /// Any bytes are a head, an incomplete one or a refusal with a status.
        #[test]
        fn any_bytes_parse_or_are_refused(bytes: Vec<u8>) {
            if let Ok(Some((_, len))) = parse(&bytes) {
                proptest::prop_assert!(len <= bytes.len());
            }
        }

        /// A well-formed head reads back as written, and any shorter prefix of it is incomplete.
        #[test]
        fn written_heads_round_trip((method, target, headers, length) in a_head()) {
            let mut raw = format!("{method} {target} HTTP/1.1\r\nContent-Length: {length}\r\n");
            for (name, value) in &headers {
                raw.push_str(&format!("{name}: {value}\r\n"));
            }
            raw.push_str("\r\n");
            let (h, len) = parse(raw.as_bytes()).unwrap().expect("a whole head");
            proptest::prop_assert_eq!(len, raw.len());
            proptest::prop_assert_eq!(h.parts.method.as_str(), method.as_str());
            proptest::prop_assert_eq!(h.parts.uri.to_string(), target);
            proptest::prop_assert_eq!(h.body, BodyLength::Length(length));
            for (name, value) in &headers {
                let got = h.parts.headers.get_all(name.as_str()).iter().any(|v| v.as_bytes() == value.trim().as_bytes());
                proptest::prop_assert!(got, "{name}: {value}");
            }
            for cut in [1, raw.len() / 2, raw.len() - 1] {
                proptest::prop_assert!(matches!(parse(&raw.as_bytes()[..cut]), Ok(None)));
            }
        }
    }
}
