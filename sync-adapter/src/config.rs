//! How a server answers, and what every connection thread of one server shares.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::OnceLock;
use std::time::Duration;

use chanbind_engine::http::{HttpApi, HttpConfig};
use chanbind_engine::Engine;
use tokio::runtime::Handle;
use tungstenite::protocol::WebSocketConfig;

/// The smallest head limit either adapter applies: hyper, under the async adapter, does not go
/// below it, and the same configuration must refuse the same requests on both.
const MIN_HEADER_BYTES: usize = 8192;

/// How a server answers: the WebSocket path, the HTTP API, and the time limits of a connection
/// thread.
///
/// `path`, `shutdown_grace`, `http`, `header_read_timeout`, `body_read_timeout` and
/// `max_header_bytes` are those of `chanbind_async::ServerConfig`, with the same defaults, so
/// `Default::default()` serves the same server on either adapter. The others exist because
/// here a waiting client holds a thread.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The WebSocket endpoint's path (docs/protocol.md: `/` by default). A plain request for it gets
    /// 426, other paths outside the API 404.
    pub path: String,
    /// How long [`ServerHandle::shutdown`](crate::ServerHandle::shutdown) waits for connection
    /// threads to finish before leaving the rest behind.
    pub shutdown_grace: Duration,
    /// The HTTP API on the same port: its prefix (`/api`), body limit and CORS.
    pub http: HttpConfig,
    /// How long a client may take to send a request head, and how long a keep-alive
    /// connection may sit idle between requests. A client that trickles its headers a byte at
    /// a time is dropped when it runs out.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body once its head is in: 408 after.
    pub body_read_timeout: Duration,
    /// The largest request head (request line and headers) in bytes; a larger one gets 431.
    /// As on the async adapter, at least 8192 applies.
    pub max_header_bytes: usize,
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
            path: "/".to_owned(),
            shutdown_grace: Duration::from_secs(5),
            http: HttpConfig::default(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(2),
            runtime: None,
        }
    }
}

/// What the connection threads of one server (or one served stream) share.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    http: HttpConfig,
    /// The HTTP side of the engine, built on the first HTTP request: a connection served by
    /// `serve_stream` that only speaks WebSocket never generates the OpenAPI document.
    api: OnceLock<HttpApi>,
    pub(crate) path: String,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    /// `max_header_bytes`, raised to the floor both adapters share.
    pub(crate) max_header_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) runtime: Option<Handle>,
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
            http: config.http.clone(),
            api: OnceLock::new(),
            path: config.path.clone(),
            ws_config,
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            max_header_bytes: config.max_header_bytes.max(MIN_HEADER_BYTES),
            handshake_timeout: config.handshake_timeout,
            write_timeout: config.write_timeout,
            close_timeout: config.close_timeout,
            runtime,
            stopping: AtomicBool::new(false),
            live: AtomicUsize::new(0),
        }
    }

    /// The HTTP API, with its OpenAPI document generated once.
    pub(crate) fn api(&self) -> &HttpApi {
        self.api
            .get_or_init(|| HttpApi::new(self.engine.clone(), self.http.clone()))
    }
}
