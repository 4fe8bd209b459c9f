//! The WebSocket handshake, on a request head the HTTP layer has read: the same checks, in the
//! same order, with the same answers as the async adapter's upgrade (404 off the endpoint's
//! path, 405 for another method, 426 for another protocol version, 400 without a key, 401 or
//! 503 from the authenticators), then the 101 built here with tungstenite's accept key.

use std::net::IpAddr;

use chanbind_engine::auth::RequestHead;
use chanbind_engine::http::{self as api, HttpResponse};
use chanbind_engine::protocol::{ApiError, ErrorCode};
use chanbind_engine::Admitted;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ALLOW, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use tungstenite::handshake::derive_accept_key;

use crate::config::Shared;

/// Whether the request asks to become a WebSocket (`Connection: upgrade`,
/// `Upgrade: websocket`), on any path: off the endpoint it gets 404.
pub(super) fn is_websocket(headers: &HeaderMap) -> bool {
    has_token(headers, &CONNECTION, "upgrade") && has_token(headers, &UPGRADE, "websocket")
}

/// How an upgrade request is answered.
pub(super) enum Handshake {
    /// The 101, and the admitted connection (its user and its place under the limits).
    Open(HttpResponse, Admitted),
    /// A refusal, answered like any HTTP response.
    Refused(HttpResponse),
}

/// Checks an upgrade request and runs the authenticators.
pub(super) fn accept(parts: &Parts, peer: Option<IpAddr>, shared: &Shared) -> Handshake {
    match check(parts, peer, shared) {
        Ok((response, admitted)) => Handshake::Open(response, admitted),
        Err(refusal) => Handshake::Refused(*refusal),
    }
}

/// The checks, in the async adapter's order.
fn check(
    parts: &Parts,
    peer: Option<IpAddr>,
    shared: &Shared,
) -> Result<(HttpResponse, Admitted), Box<HttpResponse>> {
    if parts.uri.path() != shared.path {
        return Err(Box::new(api::error(&ApiError::new(
            ErrorCode::NotFound,
            "no WebSocket endpoint here",
        ))));
    }
    if parts.method != Method::GET {
        let mut response = api::error_with_status(
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
        let mut response = api::error_with_status(StatusCode::UPGRADE_REQUIRED, &error);
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(Box::new(response));
    }
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY).filter(|k| !k.is_empty()) else {
        return Err(Box::new(api::error(&ApiError::bad_request(
            "Sec-WebSocket-Key is missing",
        ))));
    };
    let accept_key = derive_accept_key(key.as_bytes());
    let head = RequestHead {
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        peer,
    };
    // Authenticators are expected to answer fast (a table lookup or a signature check); this
    // thread serves only this client, so waiting here delays no one else.
    let admitted =
        futures_executor::block_on(shared.engine.admit_handshake(&head)).map_err(api::refusal)?;

    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let out = response.headers_mut();
    out.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    out.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(&accept_key) {
        out.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    Ok((response, admitted))
}

/// The plain request for the WebSocket endpoint: 426, pointing at the API.
pub(super) fn upgrade_required() -> HttpResponse {
    let error =
        ApiError::bad_request("this is the WebSocket endpoint; the HTTP API is under /api/");
    let mut response = api::error_with_status(StatusCode::UPGRADE_REQUIRED, &error);
    response
        .headers_mut()
        .insert(UPGRADE, HeaderValue::from_static("websocket"));
    response
}

/// Whether a comma-separated header has `token`, ignoring case.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| super::http::has_token(v, token))
}
