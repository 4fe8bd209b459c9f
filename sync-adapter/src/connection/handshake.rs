//! The WebSocket handshake on a non-blocking socket: resumed whenever the socket is ready,
//! bounded by a deadline, with the endpoint path checked and the authenticators run on the
//! request the way the async adapter does.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chanbind_engine::auth::{RequestHead, User};
use chanbind_engine::http::{self as api, HttpResponse};
use chanbind_engine::protocol::{ApiError, ErrorCode};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{header, HeaderValue};
use tungstenite::WebSocket;

use super::SOCKET;
use crate::config::Shared;

/// A connection thread before its WebSocket is open.
pub(super) struct Handshake<'a> {
    poll: Poll,
    events: Events,
    shared: &'a Shared,
}

impl<'a> Handshake<'a> {
    pub(super) fn new(poll: Poll, shared: &'a Shared) -> Self {
        Handshake {
            poll,
            events: Events::with_capacity(4),
            shared,
        }
    }

    /// Gives the `Poll` back for the rest of the connection.
    pub(super) fn into_poll(self) -> Poll {
        self.poll
    }

    /// Runs the handshake: `None` when it failed, was refused (the HTTP answer has been
    /// written), timed out, or the server is stopping.
    pub(super) fn run(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(WebSocket<TcpStream>, Option<User>)> {
        let deadline = Instant::now() + self.shared.handshake_timeout;
        // Both directions from the start: a refusal's answer may have to wait for the socket
        // to take it. Readiness is edge-triggered, so a spurious wake-up costs one retry.
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            SOCKET,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!(%peer, error = %e, "cannot register a connection");
            return None;
        }
        let user = Cell::new(None);
        let shared = self.shared;
        // tungstenite's handshake callback must return its `ErrorResponse` by value.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            authorize(shared, req).map(|found| {
                user.set(found);
                resp
            })
        };
        let mut attempt =
            tungstenite::accept_hdr_with_config(stream, callback, Some(shared.ws_config));
        loop {
            match attempt {
                Ok(ws) => return Some((ws, user.take())),
                Err(HandshakeError::Interrupted(mid)) => {
                    if !self.wait(deadline) {
                        tracing::debug!(%peer, "handshake not completed in time; dropping the connection");
                        return None;
                    }
                    attempt = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => {
                    tracing::debug!(%peer, error = %e, "handshake failed");
                    return None;
                }
            }
        }
    }

    /// Waits for the socket to become ready: `false` when the deadline passed first or the
    /// server is stopping.
    fn wait(&mut self, deadline: Instant) -> bool {
        loop {
            if self.shared.stopping.load(Ordering::Acquire) {
                return false;
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return false;
            };
            match self.poll.poll(&mut self.events, Some(left)) {
                Ok(()) => {
                    if self.events.iter().any(|e| e.token() == SOCKET) {
                        return true;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "poll failed during a handshake");
                    return false;
                }
            }
        }
    }
}

/// The handshake callback's decision: the endpoint path, then the authenticators. Refusals
/// become the HTTP answer, with no WebSocket: the same status, headers and JSON error body as
/// the async adapter's, built by the engine.
// tungstenite's handshake callback must return its `ErrorResponse` by value.
#[allow(clippy::result_large_err)]
fn authorize(shared: &Shared, req: &Request) -> Result<Option<User>, ErrorResponse> {
    if req.uri().path() != shared.path {
        let error = ApiError::new(ErrorCode::NotFound, "no WebSocket endpoint here");
        return Err(to_error_response(api::error(&error)));
    }
    let head = RequestHead {
        uri: req.uri().clone(),
        headers: req.headers().clone(),
    };
    // Authenticators are expected to answer fast (a table lookup or a signature check); this
    // thread serves only this client, so waiting here delays no one else.
    futures_executor::block_on(shared.engine.authenticate(&head))
        .map_err(|refusal| to_error_response(api::refusal(refusal)))
}

/// The engine's response in tungstenite's shape. tungstenite writes the head and appends the
/// body without framing it, so the length is added, and the connection closes after it.
fn to_error_response(response: HttpResponse) -> ErrorResponse {
    let (mut parts, body) = response.into_parts();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    let body = String::from_utf8(body).unwrap_or_default();
    ErrorResponse::from_parts(parts, Some(body))
}
