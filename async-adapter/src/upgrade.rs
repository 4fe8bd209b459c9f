//! The WebSocket handshake through hyper: checks, authentication, the 101, then the session
//! on the upgraded socket.

use std::net::SocketAddr;

use chanbind_engine::auth::RequestHead;
use chanbind_engine::http as api;
use chanbind_engine::protocol::{ApiError, ErrorCode};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::connection;
use crate::service::{full, Body, Shared, UpgradeSlot};

/// Whether the request asks to become a WebSocket (`Connection: upgrade`,
/// `Upgrade: websocket`).
pub(crate) fn is_websocket<B>(request: &Request<B>) -> bool {
    has_token(request.headers(), &header::CONNECTION, "upgrade")
        && has_token(request.headers(), &header::UPGRADE, "websocket")
}

/// Answers an upgrade request: 404 off the endpoint's path, 426 for another protocol version,
/// 403 for a page from an origin not allowed, 401 or 503 when the authenticators refuse, 503
/// past the per-user connection limit; otherwise 101, with the session left in `slot`
/// for the connection's task to run once hyper hands over the socket.
pub(crate) async fn accept(
    mut request: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    slot: &UpgradeSlot,
    stopped: watch::Receiver<bool>,
) -> Response<Body> {
    if request.uri().path() != shared.config.path {
        return full(api::error(&ApiError::new(
            ErrorCode::NotFound,
            "no WebSocket endpoint here",
        )));
    }
    if request.method() != Method::GET {
        let mut response = full(api::error_with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            &ApiError::bad_request("a WebSocket handshake is a GET"),
        ));
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let headers = request.headers();
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        let error = ApiError::bad_request("only WebSocket version 13 is supported");
        let mut response = full(api::error_with_status(StatusCode::UPGRADE_REQUIRED, &error));
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return response;
    }
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| !k.is_empty())
    else {
        return full(api::error(&ApiError::bad_request(
            "Sec-WebSocket-Key is missing",
        )));
    };
    let accept_key = derive_accept_key(key.as_bytes());
    // Authentication is async here, so an authenticator may do I/O without blocking a worker.
    let head = RequestHead {
        uri: request.uri().clone(),
        headers: request.headers().clone(),
        peer: Some(peer.ip()),
    };
    let admitted = match shared.engine.admit_handshake(&head).await {
        Ok(admitted) => admitted,
        Err(refusal) => return full(api::refusal(refusal)),
    };

    let on_upgrade = hyper::upgrade::on(&mut request);
    let engine = shared.engine.clone();
    let limits = engine.limits();
    // tungstenite zero-fills its read buffer before every read; 16 KiB holds any ordinary
    // request at an eighth of the default's cost (a larger frame still reads, in pieces).
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let session = async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config),
                )
                .await;
                connection::run(ws, peer, engine, admitted, stopped).await;
            }
            Err(e) => tracing::debug!(%peer, error = %e, "upgrade failed"),
        }
    };
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::pin(session));

    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let out = response.headers_mut();
    out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(&accept_key) {
        out.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    response
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
