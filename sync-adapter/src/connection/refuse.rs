//! Connections past `max_connections`: each gets one HTTP 503 and is closed, so a client
//! learns why instead of seeing a reset, on a short-lived thread, at most the engine's
//! `MAX_REFUSING` at once. A health probe (`/healthz`, `/readyz`) gets its own answer
//! instead: a full server is still alive, and a load balancer must not take it out for
//! being busy.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::auth::Refusal;
use chanbind_engine::http::edge::Probe;
use chanbind_engine::http::{self as api, HttpResponse};
use http::header::{HeaderValue, RETRY_AFTER};
use http::Version;

use super::http::head::{self, HeadRead};
use super::http::write::{encode, Framing};
use crate::config::Shared;

/// How long a refused connection has to send its request head.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The most bytes read from a refused connection.
const MAX_READ: usize = 16 * 1024;

/// Answers the connection's request with `refusal` (503) and closes it; drops it at once
/// when too many are already being refused (the engine's `MAX_REFUSING`).
pub(crate) fn spawn(
    stream: mio::net::TcpStream,
    peer: SocketAddr,
    refusal: Refusal,
    shared: &Arc<Shared>,
) {
    let Some(permit) = shared.engine.admit_refusal() else {
        return;
    };
    let shared = Arc::clone(shared);
    tracing::debug!(%peer, %refusal, "connection refused");
    // The permit goes with the thread, or back at once when no thread could start.
    let _ = std::thread::Builder::new()
        .name("chanbind-refuse".into())
        .spawn(move || {
            answer(std::net::TcpStream::from(stream), refusal, &shared);
            drop(permit);
        });
}

fn answer(mut stream: std::net::TcpStream, refusal: Refusal, shared: &Shared) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(REFUSE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(REFUSE_TIMEOUT)).is_err()
    {
        return;
    }
    // Read the request head first: closing with it unread would reset the connection, and
    // the client might never see the answer.
    let deadline = Instant::now() + REFUSE_TIMEOUT;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_READ {
        if Instant::now() >= deadline {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    let (response, is_head) = match health(&head, shared) {
        Some(answer) => answer,
        None => {
            let mut response = api::refusal(refusal);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            (response, false)
        }
    };
    let framing = Framing {
        version: Version::HTTP_11,
        head: is_head,
        keep_alive: false,
    };
    if stream.write_all(&encode(response, framing)).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
        // Wait briefly for the client to close, so what it sent after its head does not
        // turn our close into a reset.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// The answer to a health probe, and whether it was a HEAD request; `None` for any other
/// request, or bytes that are not a request head.
fn health(bytes: &[u8], shared: &Shared) -> Option<(HttpResponse, bool)> {
    let HeadRead::Head(head, _) = head::read(bytes, shared.max_header_bytes) else {
        return None;
    };
    let parts = head.into_parts();
    let probe = Probe::of(&parts)?;
    let draining = shared.draining.load(Ordering::Acquire);
    let response = futures_executor::block_on(probe.answer(&shared.engine, &parts, draining));
    Some((response, parts.method == http::Method::HEAD))
}
