//! A WebSocket handshake through hyper: the engine's checks and admission, the 101, then the
//! session on the upgraded socket, on a task the service's shutdown waits for.

use std::net::SocketAddr;
use std::sync::Arc;

use chanbind_engine::auth::RequestHead;
use chanbind_engine::http::edge::{Handshake, Upgrade};
use chanbind_engine::http::{self as api};
use chanbind_engine::protocol::{ApiError, ErrorCode};
use hyper::http::request::Parts;
use hyper::upgrade::OnUpgrade;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::{full, Inner, ResponseBody};
use crate::connection;

/// The place under `max_connections` of the connection a request came on, when
/// [`serve`](crate::serve) accepted it: a WebSocket keeps it until the session ends. Under
/// a host's server, which owns its connections, each WebSocket takes a place of its own.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionPlace(pub(crate) Arc<dyn Held>);

/// The engine's connection permit, which is only ever held (and dropped).
pub(crate) trait Held: std::fmt::Debug + Send + Sync {}

impl<T: std::fmt::Debug + Send + Sync> Held for T {}

/// Answers an upgrade request whose head passed the engine's checks: 503 once shutdown has
/// begun or past the connection limit, the engine's refusals (403, 401, 503), or 101 with
/// the session spawned to run once hyper hands over the socket.
pub(super) async fn accept(
    inner: &Inner,
    upgrade: Upgrade,
    mut parts: Parts,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    if *inner.stop.borrow() {
        return shutting_down();
    }
    // Taken out first: the head given to authenticators holds what the host put there.
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        tracing::error!("a WebSocket handshake reached a server without hyper's upgrades");
        return full(api::error(&ApiError::new(
            ErrorCode::Internal,
            "this server cannot upgrade connections",
        )));
    };
    let place = match parts.extensions.remove::<ConnectionPlace>() {
        Some(place) => place.0,
        None => match inner.engine.admit_connection() {
            Ok(permit) => Arc::new(permit) as Arc<dyn Held>,
            Err(refusal) => return full(api::refusal(refusal)),
        },
    };
    // Authentication is async here, so an authenticator may do I/O without blocking a worker.
    let head = RequestHead::from_parts(&parts, peer.map(|p| p.ip()));
    let (response, admitted) = match upgrade.admit(&inner.engine, &head).await {
        Handshake::Open(response, admitted) => (response, admitted),
        Handshake::Refused(refusal) => return full(refusal),
    };

    let engine = inner.engine.clone();
    let limits = engine.limits();
    // tungstenite zero-fills its read buffer before every read; 16 KiB holds any ordinary
    // request at an eighth of the default's cost (a larger frame still reads, in pieces).
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let stopped = inner.stop.subscribe();
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
            Err(e) => tracing::debug!(?peer, error = %e, "upgrade failed"),
        }
        drop(place);
    };
    if !inner.sessions.spawn(session) {
        return shutting_down();
    }
    full(response)
}

/// The answer to a handshake once shutdown has begun.
fn shutting_down() -> Response<ResponseBody> {
    let error = ApiError::new(ErrorCode::Unavailable, "the server is shutting down");
    full(api::error_with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        &error,
    ))
}
