//! Where a request stands: the mount point it came through, its path below it, and the
//! client's address.

use std::net::SocketAddr;

use chanbind_engine::http::Mount;
use hyper::http::request::Parts;
use hyper::Uri;

use super::PeerAddr;

/// Makes `parts`' path relative to the mount point and records the mount in its extensions
/// (a [`Mount`]); returns the client's address, if the request says.
///
/// With the `axum` feature, axum's `OriginalUri` gives the mount: what axum stripped off the
/// path. Otherwise `mount_path` is the mount, stripped from the path when the path starts
/// with it (a router that nests the service may have stripped it already).
pub(super) fn place(parts: &mut Parts, mount_path: &str) -> Option<SocketAddr> {
    let mount = match nested_at(parts) {
        Some(mount) => mount,
        None => {
            let mount = Mount::new(mount_path);
            if let Some(rest) = mount.strip(parts.uri.path()) {
                let rest = rest.to_owned();
                parts.uri = with_path(&parts.uri, &rest);
            }
            mount
        }
    };
    if !mount.as_str().is_empty() {
        parts.extensions.insert(mount);
    }
    peer(parts)
}

/// The mount axum nested the service at: its `OriginalUri`'s path less the path left.
#[cfg(feature = "axum")]
fn nested_at(parts: &Parts) -> Option<Mount> {
    let original = parts.extensions.get::<axum::extract::OriginalUri>()?;
    let (original, path) = (original.0.path(), parts.uri.path());
    let mount = original
        .strip_suffix(path)
        // `/realtime` reaches a nested service as `/`.
        .or_else(|| (path == "/").then_some(original))?;
    Some(Mount::new(mount))
}

#[cfg(not(feature = "axum"))]
fn nested_at(_: &Parts) -> Option<Mount> {
    None
}

fn peer(parts: &Parts) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = parts.extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    None
}

/// `uri` with its path replaced by `path`, its query kept.
fn with_path(uri: &Uri, path: &str) -> Uri {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut builder = Uri::builder();
    if let Some(scheme) = uri.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = uri.authority() {
        builder = builder.authority(authority.clone());
    }
    builder
        .path_and_query(path_and_query)
        .build()
        .unwrap_or_else(|_| uri.clone())
}
