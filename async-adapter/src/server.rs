//! The accept loop, and the handle that stops it gracefully.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::http::{HttpApi, HttpConfig};
use chanbind_engine::Engine;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::refuse;
use crate::service::{self, Shared};

/// How a server answers: the WebSocket path, the HTTP API, the limits on slow or oversized
/// request heads, and how long shutdown waits for connections.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The WebSocket endpoint's path (docs/protocol.md: `/` by default).
    pub path: String,
    /// How long [`ServerHandle::shutdown`] waits for connections to close before dropping them.
    pub shutdown_grace: Duration,
    /// The HTTP API: its prefix (`/api`), body limit and CORS.
    pub http: HttpConfig,
    /// How long a client may take to send a request head, and how long a keep-alive
    /// connection may sit idle between requests. A client that trickles its headers a byte
    /// at a time is dropped when it runs out.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body once its head is in: 408 after.
    pub body_read_timeout: Duration,
    /// The largest request head (request line and headers) in bytes; a larger one gets 431.
    /// hyper does not go below 8192.
    pub max_header_bytes: usize,
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
        }
    }
}

/// A running server. Dropping the handle leaves the server running; call
/// [`shutdown`](Self::shutdown) to stop it.
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every WebSocket with 1001 (going away), lets HTTP requests in
    /// flight finish, and waits for every connection (at most `shutdown_grace`).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "server task failed");
        }
    }
}

/// Binds `addr` and serves `engine` on it: the WebSocket endpoint and the HTTP API on the
/// same port.
pub async fn bind(
    addr: impl ToSocketAddrs,
    engine: Engine,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr).await?;
    serve(listener, engine, config)
}

/// Serves `engine` on a listener the application owns, on the current tokio runtime.
pub fn serve(
    listener: TcpListener,
    engine: Engine,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let api = HttpApi::new(engine.clone(), config.http.clone());
    let shared = Arc::new(Shared {
        engine,
        api,
        config,
    });
    let task = tokio::spawn(accept_loop(listener, shared, stopped));
    Ok(ServerHandle {
        local_addr,
        stop,
        task,
    })
}

/// Resolves once the server is told to stop; never once the handle is dropped, since a
/// dropped handle leaves the server running rather than stopping it.
pub(crate) async fn stopping(stopped: &mut watch::Receiver<bool>) {
    if stopped.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    match shared.engine.admit_connection() {
                        Ok(permit) => {
                            let serve = service::serve_connection(socket, peer, Arc::clone(&shared), stopped.clone());
                            // The place under `max_connections` is held until the connection ends.
                            connections.spawn(async move {
                                serve.await;
                                drop(permit);
                            });
                        }
                        Err(refusal) => refuse::spawn(socket, peer, refusal, &shared.engine),
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopping(&mut stopped) => break,
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(shared.config.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            left = connections.len(),
            "connections did not close in time; dropping them"
        );
        connections.abort_all();
    }
}
