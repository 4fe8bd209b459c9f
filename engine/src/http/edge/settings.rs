//! The settings of a server's edge that both adapters' `ServerConfig`s share.

use std::time::Duration;

use crate::http::HttpConfig;

/// The smallest request head limit either adapter applies: hyper, under the async adapter,
/// does not go below it, and the same settings must refuse the same requests on both.
pub const MIN_HEADER_BYTES: usize = 8192;

/// How a server's edge answers, the same on both adapters: the WebSocket path, the HTTP API,
/// the limits on slow or oversized requests, and how long shutdown waits. Both adapters'
/// `ServerConfig`s hold one as `server` (and dereference to it, so `config.path` reads as
/// before), with the same defaults, so `Default::default()` serves the same server on
/// either adapter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerSettings {
    /// The WebSocket endpoint's path below the mount point (docs/protocol.md: `/` by
    /// default). A plain request for it gets 426, other paths outside the API 404.
    pub path: String,
    /// How long shutdown waits for connections to close before dropping them.
    pub shutdown_grace: Duration,
    /// How long a server drains before it closes connections: from the start of shutdown,
    /// `/readyz` answers 503 (`shutdown` failing) while the server goes on accepting and
    /// serving as before, so a load balancer that polls it stops sending new clients; then
    /// WebSockets close with 1001 and `shutdown_grace` applies. Default zero: shutdown
    /// closes at once, as a server with no load balancer in front wants (and Ctrl-C in
    /// development); behind one, set it above the balancer's check interval times its
    /// failure threshold (docs/protocol.md section 6, "Health").
    pub drain_delay: Duration,
    /// The HTTP API on the same port: its prefix (`/api`), body limit, CORS and static files.
    pub http: HttpConfig,
    /// How long a client may take to send a request head, and how long a keep-alive
    /// connection may sit idle between requests. A client that trickles its headers a byte
    /// at a time is dropped when it runs out.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body once its head is in: 408 after.
    pub body_read_timeout: Duration,
    /// The largest request head (request line and headers) in bytes; a larger one gets 431.
    /// At least [`MIN_HEADER_BYTES`] applies.
    pub max_header_bytes: usize,
    /// Whether `GET /metrics` (below the mount point) answers the engine's Prometheus
    /// metrics ([`crate::metrics`]); off by default, when it is 404 like any unknown path.
    /// It needs no credential: serve it where only the operator's scraper reaches, or read
    /// the registry from the application instead ([`crate::Engine::metrics`]).
    pub metrics: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            path: "/".to_owned(),
            shutdown_grace: Duration::from_secs(5),
            drain_delay: Duration::ZERO,
            http: HttpConfig::default(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            metrics: false,
        }
    }
}

impl ServerSettings {
    crate::server_settings_setters!();

    /// The head limit that applies: `max_header_bytes`, at least [`MIN_HEADER_BYTES`].
    pub fn head_limit(&self) -> usize {
        self.max_header_bytes.max(MIN_HEADER_BYTES)
    }
}

/// The builder setters of [`ServerSettings`]' fields, written once: expanded in
/// `ServerSettings` itself (no argument) and in each adapter's `ServerConfig`, which holds its
/// settings in a field (`server_settings_setters!(.server)`).
#[doc(hidden)]
#[macro_export]
macro_rules! server_settings_setters {
    ($($to:tt)*) => {
        /// Sets the WebSocket endpoint's path
        /// (`ServerSettings::path`).
        pub fn path(mut self, path: impl Into<String>) -> Self {
            self$($to)*.path = path.into();
            self
        }

        /// Sets how long shutdown waits for connections
        /// (`ServerSettings::shutdown_grace`).
        pub fn shutdown_grace(mut self, grace: ::std::time::Duration) -> Self {
            self$($to)*.shutdown_grace = grace;
            self
        }

        /// Sets how long shutdown drains, `/readyz` failing, before closing connections
        /// (`ServerSettings::drain_delay`).
        pub fn drain_delay(mut self, delay: ::std::time::Duration) -> Self {
            self$($to)*.drain_delay = delay;
            self
        }

        /// Sets the HTTP API's configuration
        /// (`ServerSettings::http`).
        pub fn http(mut self, http: $crate::http::HttpConfig) -> Self {
            self$($to)*.http = http;
            self
        }

        /// Sets how long a request head may take
        /// (`ServerSettings::header_read_timeout`).
        pub fn header_read_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self$($to)*.header_read_timeout = timeout;
            self
        }

        /// Sets how long a request body may take
        /// (`ServerSettings::body_read_timeout`).
        pub fn body_read_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self$($to)*.body_read_timeout = timeout;
            self
        }

        /// Sets the largest request head
        /// (`ServerSettings::max_header_bytes`).
        pub fn max_header_bytes(mut self, bytes: usize) -> Self {
            self$($to)*.max_header_bytes = bytes;
            self
        }

        /// Turns `GET /metrics` on or off
        /// (`ServerSettings::metrics`).
        pub fn metrics(mut self, on: bool) -> Self {
            self$($to)*.metrics = on;
            self
        }
    };
}
