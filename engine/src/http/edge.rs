//! The serving edge both adapters share: which answer a request gets, in one order, before
//! an adapter reads its body or hands its socket to a WebSocket.
//!
//! An adapter parses a request head, puts a [`Mount`] in its extensions when it is served
//! under a path of a larger application, and asks [`dispatch`]:
//!
//! 1. a WebSocket upgrade request (`Connection: upgrade`, `Upgrade: websocket`), on any path,
//!    is checked as a handshake ([`Upgrade`]): 404 off the endpoint's path, 405 for another
//!    method, 426 for another protocol version, 400 without a key; then
//!    [`Upgrade::admit`] runs the origin check, the authenticators and the connection limits
//!    (403, 401, 503) and gives the 101;
//! 2. `/healthz` and `/readyz` are the health endpoints ([`Probe`]), before anything that
//!    authenticates or counts requests;
//! 3. `/metrics`, when [`ServerSettings::metrics`] is on, answers the engine's metrics
//!    ([`dispatch_with`] only, which has the engine);
//! 4. a path under the API prefix goes to [`HttpApi`](super::HttpApi);
//! 5. a configured [`StaticFile`](super::StaticFile) answers its own path;
//! 6. a plain request for the WebSocket endpoint gets 426, naming where the API is (with the
//!    mount point: `/realtime/api/`);
//! 7. anything else is 404.
//!
//! ```
//! use chanbind_engine::http::edge::{dispatch, Dispatch};
//! use chanbind_engine::http::ServerSettings;
//!
//! let settings = ServerSettings::default();
//! let (parts, ()) = http::Request::get("/api/todo_task/").body(()).unwrap().into_parts();
//! assert!(matches!(dispatch(&settings, &parts), Dispatch::Api));
//! let (parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
//! match dispatch(&settings, &parts) {
//!     Dispatch::Respond(response) => assert_eq!(response.status(), 426),
//!     _ => unreachable!(),
//! }
//! ```

mod handshake;
mod health;
mod metrics;
mod mount;
mod settings;

pub use handshake::{is_websocket, Handshake, Upgrade};
pub use health::{Probe, HEALTHZ, READYZ};
pub use mount::Mount;
pub use settings::{ServerSettings, MIN_HEADER_BYTES};

use http::header::{HeaderValue, UPGRADE};
use http::request::Parts;
use http::StatusCode;

use super::{error, error_with_status, HttpResponse};
use crate::protocol::{ApiError, ErrorCode};

/// What a request gets, by [`dispatch`].
#[derive(Debug)]
pub enum Dispatch {
    /// A WebSocket handshake that passed the checks of its head: [`Upgrade::admit`] it.
    Upgrade(Upgrade),
    /// A health endpoint: [`Probe::answer`] it, with whether the server is shutting down.
    Health(Probe),
    /// A request under the API prefix: [`HttpApi::begin`](super::HttpApi::begin), read the
    /// body, [`Pending::finish`](super::Pending::finish).
    Api,
    /// Answer this; the request's body, if any, is not needed.
    Respond(HttpResponse),
}

/// Routes a request by its head, in the order of the [module documentation](self). Paths are
/// those below the mount point; the [`Mount`] in `parts.extensions`, if any, only names it
/// in the answers.
pub fn dispatch(settings: &ServerSettings, parts: &Parts) -> Dispatch {
    if is_websocket(&parts.headers) {
        return match handshake::check(parts, &settings.path) {
            Ok(upgrade) => Dispatch::Upgrade(upgrade),
            Err(response) => Dispatch::Respond(*response),
        };
    }
    if let Some(probe) = Probe::of(parts) {
        return Dispatch::Health(probe);
    }
    let path = parts.uri.path();
    if super::under_prefix(&settings.http.prefix, path) {
        return Dispatch::Api;
    }
    if let Some(response) = super::static_files::find(&settings.http.static_files, parts) {
        return Dispatch::Respond(response);
    }
    if path == settings.path {
        return Dispatch::Respond(upgrade_required(settings, Mount::of(&parts.extensions)));
    }
    Dispatch::Respond(error(&ApiError::new(ErrorCode::NotFound, "no such route")))
}

/// [`dispatch`], with the routes that need the engine: `GET /metrics` when
/// [`ServerSettings::metrics`] is on. What both adapters call.
pub fn dispatch_with(settings: &ServerSettings, engine: &crate::Engine, parts: &Parts) -> Dispatch {
    if settings.metrics && parts.uri.path() == metrics::PATH && !is_websocket(&parts.headers) {
        return Dispatch::Respond(metrics::respond(engine, &parts.method));
    }
    dispatch(settings, parts)
}

/// The plain request for the WebSocket endpoint: 426, pointing at the API under the mount.
fn upgrade_required(settings: &ServerSettings, mount: &str) -> HttpResponse {
    let prefix = settings.http.prefix.trim_end_matches('/');
    let error = ApiError::bad_request(format!(
        "this is the WebSocket endpoint; the HTTP API is under {mount}{prefix}/"
    ));
    let mut response = error_with_status(StatusCode::UPGRADE_REQUIRED, &error);
    response
        .headers_mut()
        .insert(UPGRADE, HeaderValue::from_static("websocket"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::request::Builder) -> Parts {
        request.body(()).unwrap().into_parts().0
    }

    fn message(response: &HttpResponse) -> String {
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        body["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn routes_in_order_and_names_the_mount_in_the_426() {
        let mut settings = ServerSettings::default();
        settings.http.prefix = "/v1/".into();
        let get = |uri: &str| parts(http::Request::get(uri));
        assert!(matches!(dispatch(&settings, &get("/v1/x/")), Dispatch::Api));
        assert!(matches!(dispatch(&settings, &get("/v1")), Dispatch::Api));
        assert!(matches!(
            dispatch(&settings, &get("/readyz")),
            Dispatch::Health(Probe::Ready)
        ));
        settings.http.prefix = "/".into();
        assert!(matches!(
            dispatch(&settings, &get("/healthz")),
            Dispatch::Health(Probe::Live)
        ));
        settings.http.prefix = "/v1/".into();
        let Dispatch::Respond(missing) = dispatch(&settings, &get("/v2")) else {
            panic!("not a response")
        };
        assert_eq!(missing.status(), 404);
        let mut root = get("/");
        let Dispatch::Respond(plain) = dispatch(&settings, &root) else {
            panic!("not a response")
        };
        assert_eq!(plain.status(), 426);
        assert!(
            message(&plain).ends_with("under /v1/"),
            "{}",
            message(&plain)
        );
        root.extensions.insert(Mount::new("/realtime/"));
        let Dispatch::Respond(mounted) = dispatch(&settings, &root) else {
            panic!("not a response")
        };
        assert!(message(&mounted).ends_with("under /realtime/v1/"));
    }

    #[test]
    fn upgrades_come_first_on_any_path() {
        let settings = ServerSettings::default();
        let upgrade = |uri: &str| {
            parts(
                http::Request::get(uri)
                    .header("connection", "keep-alive, Upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-version", "13")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            )
        };
        assert!(matches!(
            dispatch(&settings, &upgrade("/")),
            Dispatch::Upgrade(_)
        ));
        let Dispatch::Respond(off) = dispatch(&settings, &upgrade("/api/")) else {
            panic!("not a response")
        };
        assert_eq!(off.status(), 404);
    }
}
