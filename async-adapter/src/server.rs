//! The accept loop, and the handle that stops it gracefully.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use chanbind_engine::Engine;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::connection;

/// How a server answers: the WebSocket path and how long shutdown waits for connections.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The WebSocket endpoint's path (PROTOCOL.md: `/` by default).
    pub path: String,
    /// How long [`ServerHandle::shutdown`] waits for connections to close before dropping them.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            path: "/".to_owned(),
            shutdown_grace: Duration::from_secs(5),
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

    /// Stops accepting, closes every connection with 1001 (going away), and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "server task failed");
        }
    }
}

/// Binds `addr` and serves `engine` on it.
pub async fn bind(addr: impl ToSocketAddrs, engine: Engine, config: ServerConfig) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(addr).await?;
    serve(listener, engine, config)
}

/// Serves `engine` on a listener the application owns, on the current tokio runtime.
pub fn serve(listener: TcpListener, engine: Engine, config: ServerConfig) -> io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, engine, config, stopped));
    Ok(ServerHandle { local_addr, stop, task })
}

async fn accept_loop(listener: TcpListener, engine: Engine, config: ServerConfig, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    connections.spawn(connection::run(socket, peer, engine.clone(), config.path.clone(), stopped.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(config.shutdown_grace, drain).await.is_err() {
        tracing::warn!(left = connections.len(), "connections did not close in time; dropping them");
        connections.abort_all();
    }
}
