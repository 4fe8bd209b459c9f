//! How a server answers, and what every connection thread of one server shares.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::OnceLock;
use std::time::Duration;

use std::ops::{Deref, DerefMut};

use chanbind_engine::http::{HttpApi, ServerSettings};
use chanbind_engine::Engine;
use tokio::runtime::Handle;
use tungstenite::protocol::WebSocketConfig;

/// How a server answers: the settings both adapters share (the WebSocket path, the HTTP
/// API, the limits on slow or oversized requests, the shutdown grace), and the time limits of
/// a connection thread.
///
/// `server` holds what `chanbind_async::ServerConfig` holds too, with the same defaults, so
/// `Default::default()` serves the same server on either adapter; the config dereferences to
/// it, so `config.path` and `config.http` read and write as fields. The others exist because
/// here a waiting client holds a thread. Build one with [`Default`] and the setters:
///
/// ```
/// use std::time::Duration;
/// let config = chanbind_sync::ServerConfig::default()
///     .path("/ws")
///     .write_timeout(Duration::from_secs(5));
/// assert_eq!(config.path, "/ws");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The WebSocket path, the HTTP API, the request limits and the shutdown grace. The
    /// shutdown grace is how long [`ServerHandle::shutdown`](crate::ServerHandle::shutdown)
    /// waits for connection threads to finish before leaving the rest behind.
    pub server: ServerSettings,
    /// How long a new connection has to send its first request head, a WebSocket handshake or
    /// an HTTP request; `header_read_timeout` applies too, and the shorter wins. A client that
    /// never sends one costs one thread for this long at most.
    pub handshake_timeout: Duration,
    /// How long one HTTP response (or a handshake's 101) may take to leave. A client that sends
    /// requests and stops reading the answers costs one thread for this long at most; the
    /// async adapter, where such a client only holds a task, has no such limit.
    pub write_timeout: Duration,
    /// How long a closing connection waits for its close frame to leave and the client's
    /// reply to arrive before the socket is dropped anyway.
    pub close_timeout: Duration,
    /// The tokio runtime whose context connection threads enter while they run requests, so
    /// custom handlers and async stores that use tokio timers or spawn tasks work there.
    /// `None` takes the runtime [`bind`](crate::bind) or [`serve`](crate::serve) is called
    /// from, or else the one the engine was started on; [`EngineRuntime`](crate::EngineRuntime)
    /// passes its own.
    pub runtime: Option<Handle>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server: ServerSettings::default(),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(2),
            runtime: None,
        }
    }
}

impl ServerConfig {
    /// A configuration with these shared settings and the default thread limits.
    pub fn new(server: ServerSettings) -> Self {
        ServerConfig {
            server,
            ..ServerConfig::default()
        }
    }

    chanbind_engine::server_settings_setters!(.server);

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`runtime`](Self::runtime).
    pub fn runtime(mut self, runtime: Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }
}

impl Deref for ServerConfig {
    type Target = ServerSettings;

    fn deref(&self) -> &ServerSettings {
        &self.server
    }
}

impl DerefMut for ServerConfig {
    fn deref_mut(&mut self) -> &mut ServerSettings {
        &mut self.server
    }
}

/// What the connection threads of one server (or one served stream) share.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    /// The shared settings, which the engine's [`dispatch`](chanbind_engine::http::edge::dispatch) routes by.
    pub(crate) settings: ServerSettings,
    /// The HTTP side of the engine, built on the first HTTP request: a connection served by
    /// `serve_stream` that only speaks WebSocket never generates the OpenAPI document.
    api: OnceLock<HttpApi>,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    /// `max_header_bytes`, raised to the floor both adapters share.
    pub(crate) max_header_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) runtime: Option<Handle>,
    /// Set when shutdown begins: `/readyz` answers 503 while the server drains
    /// (`drain_delay`), then `stopping` follows.
    pub(crate) draining: AtomicBool,
    /// Set when the server shuts down: every connection closes with 1001.
    pub(crate) stopping: AtomicBool,
    /// Connection threads started and not yet finished.
    pub(crate) live: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(engine: Engine, config: &ServerConfig) -> Shared {
        let max = engine.limits().max_message_bytes;
        // A frame over the limit fails as it is read, before its payload is buffered. Reads go
        // in 16 KiB chunks rather than tungstenite's 128 KiB: with a thread and a buffer per
        // connection, that halves the memory of 1,000 idle clients; larger frames still grow
        // the buffer as they arrive.
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(max))
            .max_frame_size(Some(max))
            .read_buffer_size(16 * 1024);
        let runtime = config
            .runtime
            .clone()
            .or_else(|| Handle::try_current().ok())
            .or_else(|| engine.runtime().cloned());
        Shared {
            engine,
            settings: config.server.clone(),
            api: OnceLock::new(),
            ws_config,
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            max_header_bytes: config.head_limit(),
            handshake_timeout: config.handshake_timeout,
            write_timeout: config.write_timeout,
            close_timeout: config.close_timeout,
            runtime,
            draining: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            live: AtomicUsize::new(0),
        }
    }

    /// The HTTP API, with its OpenAPI document generated once.
    pub(crate) fn api(&self) -> &HttpApi {
        self.api
            .get_or_init(|| HttpApi::new(self.engine.clone(), self.settings.http.clone()))
    }
}
