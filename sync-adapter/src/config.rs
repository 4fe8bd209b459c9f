//! How a server answers, and what every connection thread of one server shares.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use chanbind_engine::Engine;
use tokio::runtime::Handle;
use tungstenite::protocol::WebSocketConfig;

/// How a server answers: the WebSocket path and the time limits of a connection thread.
///
/// The first two fields are those of `chanbind_async::ServerConfig`, with the same defaults,
/// so `Default::default()` serves the same server on either adapter.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The WebSocket endpoint's path (PROTOCOL.md: `/` by default); others get HTTP 404.
    pub path: String,
    /// How long [`ServerHandle::shutdown`](crate::ServerHandle::shutdown) waits for connection
    /// threads to finish before leaving the rest behind.
    pub shutdown_grace: Duration,
    /// How long a client has to complete the WebSocket handshake once its TCP connection is
    /// accepted. A client that never finishes costs one thread for this long at most.
    pub handshake_timeout: Duration,
    /// How long a closing connection waits for its close frame to leave and the client's
    /// reply to arrive before the socket is dropped anyway.
    pub close_timeout: Duration,
    /// The tokio runtime whose context connection threads enter while they run requests, so
    /// custom handlers and async stores that use tokio timers or spawn tasks work there.
    /// `None` takes the runtime [`bind`](crate::bind) or [`serve`](crate::serve) is called
    /// from, if any; [`EngineRuntime`](crate::EngineRuntime) passes its own.
    pub runtime: Option<Handle>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            path: "/".to_owned(),
            shutdown_grace: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            runtime: None,
        }
    }
}

/// What the connection threads of one server (or one served stream) share.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) path: String,
    pub(crate) ws_config: WebSocketConfig,
    pub(crate) handshake_timeout: Duration,
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
        Shared {
            engine,
            path: config.path.clone(),
            ws_config,
            handshake_timeout: config.handshake_timeout,
            close_timeout: config.close_timeout,
            runtime: config
                .runtime
                .clone()
                .or_else(|| Handle::try_current().ok()),
            stopping: AtomicBool::new(false),
            live: AtomicUsize::new(0),
        }
    }
}
