//! One TCP connection under hyper: HTTP/1.1 with keep-alive, the HTTP API, and the WebSocket
//! upgrade, all on the same port.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chanbind_engine::http::{self as api, Begin, HttpApi, HttpResponse};
use chanbind_engine::protocol::{ApiError, ErrorCode};
use chanbind_engine::Engine;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::server::{stopping, ServerConfig};
use crate::upgrade;

/// hyper does not go below this head limit (its smallest read buffer); the sync adapter
/// applies the same floor.
const MIN_HEADER_BYTES: usize = 8192;

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) api: HttpApi,
    pub(crate) config: ServerConfig,
}

/// A WebSocket session waiting for hyper to hand over the upgraded socket.
pub(crate) type Upgrade = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a request that upgrades leaves its WebSocket session. The session runs on the
/// connection's own task once hyper is done with the socket, so the accept loop's drain at
/// shutdown waits for WebSockets as it waits for HTTP requests.
pub(crate) type UpgradeSlot = Arc<Mutex<Option<Upgrade>>>;

/// The response body type: every answer is built whole.
pub(crate) type Body = Full<Bytes>;

/// Serves one connection until the client leaves, the server stops, or the connection
/// becomes a WebSocket, which then runs to its end here.
pub(crate) async fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let slot = UpgradeSlot::default();
    let service = {
        let (shared, slot, stopped) = (Arc::clone(&shared), Arc::clone(&slot), stopped.clone());
        service_fn(move |request| {
            let (shared, slot, stopped) = (Arc::clone(&shared), Arc::clone(&slot), stopped.clone());
            async move { Ok::<_, Infallible>(respond(request, peer, &shared, &slot, stopped).await) }
        })
    };
    let config = &shared.config;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes.max(8192))
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(socket), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopping(&mut stopped) => {
            // Finishes the request in flight, if any, then closes instead of keeping alive.
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
    let upgrade = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(websocket) = upgrade {
        websocket.await;
    }
}

async fn respond(
    request: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    slot: &UpgradeSlot,
    stopped: watch::Receiver<bool>,
) -> Response<Body> {
    if head_len(&request) > shared.config.max_header_bytes.max(MIN_HEADER_BYTES) {
        return head_too_large();
    }
    if upgrade::is_websocket(&request) {
        return upgrade::accept(request, peer, shared, slot, stopped).await;
    }
    let path = request.uri().path();
    if shared.api.serves(path) {
        return call_api(request, peer, shared).await;
    }
    if let Some(response) = shared.api.static_file(request.method(), path) {
        return full(response);
    }
    if path == shared.config.path {
        let error =
            ApiError::bad_request("this is the WebSocket endpoint; the HTTP API is under /api/");
        let mut response = full(api::error_with_status(StatusCode::UPGRADE_REQUIRED, &error));
        response.headers_mut().insert(
            hyper::header::UPGRADE,
            hyper::header::HeaderValue::from_static("websocket"),
        );
        return response;
    }
    full(api::error(&ApiError::new(
        ErrorCode::NotFound,
        "no such route",
    )))
}

/// The size of a request head as sent (request line, headers, the empty line), optional
/// whitespace aside. hyper bounds only its read buffer, which can hold more than
/// `max_header_bytes` by the time a head completes; the sync adapter counts the head itself.
fn head_len<B>(request: &Request<B>) -> usize {
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + headers + 2
}

/// What hyper sends for a head it cannot take, as the sync adapter does: 431 alone, then close.
fn head_too_large() -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// A request under the API prefix: the head through the engine, then the body, bounded in
/// size and in time, then the rest.
async fn call_api(request: Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let pending = match shared.api.begin(&parts, Some(peer.ip())).await {
        Begin::Respond(response) => return full(response),
        Begin::Proceed(pending) => pending,
    };
    let bytes = if pending.wants_body() {
        let read = Limited::new(body, pending.body_limit()).collect();
        match tokio::time::timeout(shared.config.body_read_timeout, read).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.is::<LengthLimitError>() => return full(pending.too_large()),
            Ok(Err(_)) => return full(api::unreadable_body()),
            Err(_) => {
                let error = ApiError::bad_request("the request body took too long to arrive");
                return full(api::error_with_status(StatusCode::REQUEST_TIMEOUT, &error));
            }
        }
    } else {
        Bytes::new()
    };
    full(pending.finish(&bytes).await)
}

/// The engine's response as hyper's.
pub(crate) fn full(response: HttpResponse) -> Response<Body> {
    response.map(|body| Full::new(Bytes::from(body)))
}
