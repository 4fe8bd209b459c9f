//! The WebSocket handshake, on a request head the HTTP layer has read. The engine checks the
//! head ([`dispatch`](chanbind_engine::http::edge::dispatch): 404 off the endpoint's path, 405,
//! 426, 400, the same texts as the async adapter's) and admits it (401 or 503 from the
//! authenticators, 403, 503 past the limits); this runs the admission on the connection's
//! thread.

use std::net::IpAddr;

use chanbind_engine::auth::RequestHead;
use chanbind_engine::http::edge::Upgrade;
use chanbind_engine::http::HttpResponse;
use chanbind_engine::Admitted;
use http::request::Parts;

use crate::config::Shared;

/// How an upgrade request is answered.
pub(super) enum Handshake {
    /// The 101, and the admitted connection (its user and its place under the limits).
    Open(HttpResponse, Admitted),
    /// A refusal, answered like any HTTP response.
    Refused(HttpResponse),
}

/// Admits a handshake whose head passed the engine's checks.
pub(super) fn accept(
    upgrade: Upgrade,
    parts: &Parts,
    peer: Option<IpAddr>,
    shared: &Shared,
) -> Handshake {
    // The blocking adapter's requests carry no extensions: nothing in front of it adds any.
    let head = RequestHead::from_parts(parts, peer);
    // Authenticators are expected to answer fast (a table lookup or a signature check); this
    // thread serves only this client, so waiting here delays no one else.
    match futures_executor::block_on(upgrade.admit(&shared.engine, &head)) {
        Ok((response, admitted)) => Handshake::Open(response, admitted),
        Err(refusal) => Handshake::Refused(refusal),
    }
}
