//! The WebSocket handshake, on a request head the HTTP layer has read. The engine checks the
//! head ([`dispatch`](chanbind_engine::http::edge::dispatch): 404 off the endpoint's path, 405,
//! 426, 400, the same texts as the async adapter's) and admits it (401 or 503 from the
//! authenticators, 403, 503 past the limits); this runs the admission on the connection's
//! thread.

use std::net::IpAddr;

use chanbind_engine::auth::RequestHead;
use chanbind_engine::http::edge::{Handshake, Upgrade};
use http::request::Parts;

use crate::config::Shared;

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
    futures_executor::block_on(upgrade.admit(&shared.engine, &head))
}
