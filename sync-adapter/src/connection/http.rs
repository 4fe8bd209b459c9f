//! HTTP/1.1 on a connection thread, before (or instead of) a WebSocket: request heads read
//! with httparse ([`head`]), bodies ([`body`]), the engine's runtime-agnostic [`HttpApi`]
//! driven with `block_on`, responses written as hyper writes them ([`write`]).
//!
//! Requests on one connection run one after another, so pipelined requests are answered in
//! order. The connection is kept alive unless the client or the request's framing says
//! otherwise, a body nobody read cannot be skipped cheaply, or the server is stopping; every
//! wait is bounded: `header_read_timeout` for a head and for idleness between requests,
//! `body_read_timeout` for a body (408), `write_timeout` for a response. A WebSocket upgrade
//! on the endpoint's path leaves this loop with the socket and the bytes read past its head.
//!
//! [`HttpApi`]: chanbind_engine::http::HttpApi

pub(crate) mod body;
mod chunked;
#[cfg(test)]
mod differential;
pub(crate) mod head;
pub(super) mod write;

pub(crate) use head::has_token;

use std::net::SocketAddr;
use std::time::Instant;

use chanbind_engine::http::edge::{self, Dispatch, Handshake};
use chanbind_engine::http::{self as api, Begin, HttpResponse};
use chanbind_engine::protocol::ApiError;
use chanbind_engine::Admitted;
use http::{Method, Response, StatusCode, Version};

use super::handshake;
use super::transport::{Gone, Io};
use crate::config::Shared;
use body::BodyError;
use head::{Head, HeadRead};
use write::Framing;

/// Serves requests until the connection ends (`None`) or becomes a WebSocket: then the socket,
/// with what was read past the handshake, and the signed-in user.
pub(super) fn serve<'a>(
    mut io: Io<'a>,
    peer: SocketAddr,
    shared: &Shared,
) -> Option<(Io<'a>, Admitted)> {
    let first_deadline = Instant::now() + shared.handshake_timeout;
    let mut first = true;
    loop {
        let mut deadline = Instant::now() + shared.header_read_timeout;
        if first {
            deadline = deadline.min(first_deadline);
            first = false;
        }
        let head = match read_head(&mut io, shared, deadline) {
            Ok(head) => head,
            Err(None) => return None,
            Err(Some(status)) => {
                // What hyper sends for a head it cannot take: the status alone, then close.
                tracing::debug!(%peer, %status, "request head refused");
                let mut response = Response::new(Vec::new());
                *response.status_mut() = status;
                let framing = Framing {
                    version: Version::HTTP_11,
                    head: false,
                    keep_alive: false,
                };
                if send(&mut io, response, framing, shared) {
                    io.close();
                }
                return None;
            }
        };
        match exchange(&mut io, &head, shared) {
            Next::Request => {}
            Next::Close => {
                io.close();
                return None;
            }
            Next::Drop => {
                tracing::debug!(%peer, "response not taken in time; dropping the connection");
                return None;
            }
            Next::WebSocket(user) => return Some((io, user)),
        }
    }
}

/// What follows a request on its connection.
enum Next {
    /// The next request.
    Request,
    /// Nothing: the connection closes.
    Close,
    /// Nothing, and the response may not have left: the socket is dropped at once.
    Drop,
    /// The WebSocket, as admitted.
    WebSocket(Admitted),
}

/// Answers one request.
fn exchange(io: &mut Io<'_>, head: &Head, shared: &Shared) -> Next {
    let version = head.parts.version;
    let (response, body) = match answer(io, head, shared) {
        Answer::Upgrade(response, user) => {
            // hyper answers an HTTP/1.0 upgrade with its 101 but never hands the socket
            // over: WebSocket needs HTTP/1.1.
            let http11 = version == Version::HTTP_11;
            let framing = Framing {
                version,
                head: false,
                keep_alive: http11,
            };
            return match (send(io, response, framing, shared), http11) {
                (false, _) => Next::Drop,
                (true, true) => Next::WebSocket(user),
                (true, false) => Next::Close,
            };
        }
        Answer::Respond(response, body) => (response, body),
    };
    // The next request can be found only past this one's body; one that was not read is
    // skipped when that is cheap, or the connection closes after the answer. As with hyper,
    // only a close the client asked for, or a shutdown, is announced in the response.
    let announced = head.keep_alive && !io.stopping();
    let keep_alive = announced
        && !has_close(&response)
        && match body {
            Body::Read => true,
            Body::Unread => body::skip(io, head.body, shared.api().body_limit()),
            Body::Broken => false,
        };
    let framing = Framing {
        version,
        head: head.parts.method == Method::HEAD,
        keep_alive: announced,
    };
    if !send(io, response, framing, shared) {
        Next::Drop
    } else if keep_alive {
        Next::Request
    } else {
        Next::Close
    }
}

/// Whether a response closes the connection itself.
fn has_close(response: &HttpResponse) -> bool {
    response
        .headers()
        .get_all(http::header::CONNECTION)
        .iter()
        .any(|v| has_token(v, "close"))
}

/// Writes a response: `false` when the socket did not take it in time.
fn send(io: &mut Io<'_>, response: HttpResponse, framing: Framing, shared: &Shared) -> bool {
    let bytes = write::encode(response, framing);
    io.write_all(&bytes, Instant::now() + shared.write_timeout)
        .is_ok()
}

/// Reads the next request head: `Err(None)` when the connection ends first (the client left,
/// the deadline passed or the server is stopping: nothing to answer), `Err(Some(status))`
/// for a head to refuse.
fn read_head(
    io: &mut Io<'_>,
    shared: &Shared,
    deadline: Instant,
) -> Result<Head, Option<StatusCode>> {
    let limit = shared.max_header_bytes;
    loop {
        if !io.buf.is_empty() {
            match head::read(&io.buf, limit) {
                HeadRead::Head(head, len) => {
                    io.consume(len);
                    return Ok(*head);
                }
                HeadRead::Partial => {}
                HeadRead::Refuse(status) => return Err(Some(status)),
                HeadRead::HangUp => return Err(None),
            }
        }
        // An idle connection, or one still sending its head, closes when the server stops;
        // only a request whose head is in is finished.
        io.fill(limit, deadline, true).map_err(|_: Gone| None)?;
    }
}

/// What a request gets.
enum Answer {
    /// The 101, and the user the authenticators found.
    Upgrade(HttpResponse, Admitted),
    /// A response, and what became of the request's body.
    Respond(HttpResponse, Body),
}

/// Where the request's body was left.
enum Body {
    /// Read whole (or there was none).
    Read,
    /// Not touched: it may still be skipped.
    Unread,
    /// Read in part (too large, too slow, broken): the connection cannot go on.
    Broken,
}

/// Routes a request in the engine's order (upgrades first, the health endpoints, then the API, the configured
/// static files, the WebSocket endpoint's path (426), then 404), as the async adapter does.
fn answer(io: &mut Io<'_>, head: &Head, shared: &Shared) -> Answer {
    let parts = &head.parts;
    match edge::dispatch_with(&shared.settings, &shared.engine, parts) {
        Dispatch::Upgrade(upgrade) => match handshake::accept(upgrade, parts, io.peer_ip(), shared)
        {
            Handshake::Open(response, admitted) => Answer::Upgrade(response, admitted),
            Handshake::Refused(refusal) => Answer::Respond(refusal, Body::Unread),
        },
        Dispatch::Health(probe) => {
            let draining = shared.draining.load(std::sync::atomic::Ordering::Acquire);
            let answer = probe.answer(&shared.engine, parts, draining);
            Answer::Respond(futures_executor::block_on(answer), Body::Unread)
        }
        Dispatch::Api => call_api(io, head, shared),
        Dispatch::Respond(response) => Answer::Respond(response, Body::Unread),
    }
}

/// A request under the API prefix: the head through the engine, then the body, bounded in
/// size and in time, then the rest.
fn call_api(io: &mut Io<'_>, head: &Head, shared: &Shared) -> Answer {
    let pending = match futures_executor::block_on(shared.api().begin(&head.parts, io.peer_ip())) {
        Begin::Respond(response) => return Answer::Respond(response, Body::Unread),
        Begin::Proceed(pending) => pending,
    };
    if !pending.wants_body() {
        let response = futures_executor::block_on(pending.finish(&[]));
        return Answer::Respond(response, Body::Unread);
    }
    let deadline = Instant::now() + shared.body_read_timeout;
    if head.expect_continue
        && io
            .write_all(write::CONTINUE, Instant::now() + shared.write_timeout)
            .is_err()
    {
        return Answer::Respond(api::unreadable_body(), Body::Broken);
    }
    let body = match body::read(io, head.body, pending.body_limit(), deadline) {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Answer::Respond(pending.too_large(), Body::Broken),
        Err(BodyError::TimedOut) => {
            let error = ApiError::bad_request("the request body took too long to arrive");
            let response = api::error_with_status(StatusCode::REQUEST_TIMEOUT, &error);
            return Answer::Respond(response, Body::Broken);
        }
        Err(BodyError::Unreadable) => return Answer::Respond(api::unreadable_body(), Body::Broken),
    };
    Answer::Respond(
        futures_executor::block_on(pending.finish(&body)),
        Body::Read,
    )
}
