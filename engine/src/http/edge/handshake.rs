//! The WebSocket handshake on a request head (RFC 6455 section 4.2), the same checks, texts
//! and order on both adapters.

use http::header::{
    HeaderMap, HeaderName, HeaderValue, ALLOW, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use tungstenite::handshake::derive_accept_key;

use crate::auth::RequestHead;
use crate::http::{error, error_with_status, refusal, HttpResponse};
use crate::protocol::{ApiError, ErrorCode};
use crate::{Admitted, Engine};

/// Whether the request asks to become a WebSocket (`Connection: upgrade`,
/// `Upgrade: websocket`), on any path: off the endpoint it gets 404.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    has_token(headers, &CONNECTION, "upgrade") && has_token(headers, &UPGRADE, "websocket")
}

/// A handshake whose head passed the checks: it is for the endpoint, a `GET`, version 13,
/// with a key.
#[derive(Debug)]
pub struct Upgrade {
    accept: HeaderValue,
}

/// How an admitted or refused handshake is answered.
#[derive(Debug)]
pub enum Handshake {
    /// The 101 to send, and the admitted connection (its user and its place under the
    /// limits) to open the session with
    /// ([`Engine::open_admitted_session`](crate::Engine::open_admitted_session)).
    Open(HttpResponse, Admitted),
    /// The refusal to answer instead, like any HTTP response.
    Refused(HttpResponse),
}

impl Upgrade {
    /// Admits the handshake: origin (403), credentials (401, or 503 when an authenticator
    /// failed) and connection limits (503), through [`Engine::admit_handshake`].
    pub async fn admit(self, engine: &Engine, head: &RequestHead) -> Handshake {
        match engine.admit_handshake(head).await {
            Ok(admitted) => Handshake::Open(self.switching_protocols(), admitted),
            Err(refused) => Handshake::Refused(refusal(refused)),
        }
    }

    /// The 101 that accepts the handshake.
    pub fn switching_protocols(&self) -> HttpResponse {
        let mut response = Response::new(Vec::new());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let out = response.headers_mut();
        out.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(UPGRADE, HeaderValue::from_static("websocket"));
        out.insert(SEC_WEBSOCKET_ACCEPT, self.accept.clone());
        response
    }
}

/// The checks of an upgrade request's head: 404 off `path`, 405 for another method, 426 for
/// another protocol version, 400 without a key.
pub(super) fn check(parts: &Parts, path: &str) -> Result<Upgrade, Box<HttpResponse>> {
    if parts.uri.path() != path {
        return Err(Box::new(error(&ApiError::new(
            ErrorCode::NotFound,
            "no WebSocket endpoint here",
        ))));
    }
    if parts.method != Method::GET {
        let mut response = error_with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            &ApiError::bad_request("a WebSocket handshake is a GET"),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return Err(Box::new(response));
    }
    let headers = &parts.headers;
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        let error = ApiError::bad_request("only WebSocket version 13 is supported");
        let mut response = error_with_status(StatusCode::UPGRADE_REQUIRED, &error);
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(Box::new(response));
    }
    let accept = headers
        .get(SEC_WEBSOCKET_KEY)
        .filter(|k| !k.is_empty())
        .and_then(|key| HeaderValue::from_str(&derive_accept_key(key.as_bytes())).ok());
    match accept {
        Some(accept) => Ok(Upgrade { accept }),
        None => Err(Box::new(error(&ApiError::bad_request(
            "Sec-WebSocket-Key is missing",
        )))),
    }
}

/// Whether a comma-separated header has `token`, ignoring case.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        let (parts, ()) = http::Request::get("/")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(())
            .unwrap()
            .into_parts();
        let response = check(&parts, "/").unwrap().switching_protocols();
        assert_eq!(
            response.headers()[SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn checks_path_method_version_and_key_in_order() {
        let status = |request: http::request::Builder| {
            let (parts, ()) = request.body(()).unwrap().into_parts();
            check(&parts, "/").err().map(|r| r.status().as_u16())
        };
        assert_eq!(status(http::Request::post("/x")), Some(404));
        assert_eq!(status(http::Request::post("/")), Some(405));
        assert_eq!(status(http::Request::get("/")), Some(426));
        let versioned = || http::Request::get("/").header("sec-websocket-version", "13");
        assert_eq!(status(versioned()), Some(400));
        assert_eq!(status(versioned().header("sec-websocket-key", "k")), None);
    }
}
