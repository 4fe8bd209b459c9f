//! The accept loop on the service, and the handle that stops it gracefully.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::Engine;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::refuse;
use crate::service::upgrade::ConnectionPlace;
use crate::service::{service, stopping, ChanbindService, PeerAddr};

/// A running server. Dropping the handle leaves the server running; call
/// [`shutdown`](Self::shutdown) to stop it.
#[derive(Debug)]
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

    /// Drains, then stops accepting, closes every WebSocket with 1001 (going away), lets
    /// HTTP requests in flight finish, and waits for every connection (at most
    /// `shutdown_grace`). The drain lasts `drain_delay` (none by default): `/readyz`
    /// answers 503 while the server accepts and serves as before.
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

/// Serves `engine` on a listener the application owns, on the current tokio runtime: the
/// [`ChanbindService`] of `engine` on each accepted connection, with `header_read_timeout`
/// and `max_header_bytes` applied to hyper's parser, and `max_connections` to connections.
pub fn serve(
    listener: TcpListener,
    engine: Engine,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, service(engine, config), stopped));
    Ok(ServerHandle {
        local_addr,
        stop,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    service: ChanbindService,
    mut stopped: watch::Receiver<bool>,
) {
    let engine = service.engine().clone();
    let mut connections = JoinSet::new();
    // Once stopping, the server drains for `drain_delay`: `/readyz` answers 503 while it
    // accepts and serves as before, so a load balancer polling it sees the drain first.
    let mut drain: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    match engine.admit_connection() {
                        Ok(permit) => {
                            // The place under `max_connections` is held until the connection
                            // ends, and by the WebSocket it may become.
                            let place = ConnectionPlace(Arc::new(permit));
                            let serve = serve_connection(socket, peer, place, service.clone());
                            connections.spawn(serve);
                        }
                        Err(refusal) => refuse::spawn(socket, peer, refusal, &service),
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopping(&mut stopped), if drain.is_none() => {
                service.begin_drain();
                drain = Some(Box::pin(tokio::time::sleep(service.config().drain_delay)));
            }
            () = async { drain.as_mut().expect("guarded").await }, if drain.is_some() => break,
        }
    }
    drop(listener);
    let grace = service.config().shutdown_grace;
    let websockets = service.close();
    let drain = async {
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                left = connections.len(),
                "connections did not close in time; dropping them"
            );
            connections.abort_all();
        }
    };
    tokio::join!(websockets, drain);
}

/// Serves one connection until the client leaves, the server stops, or the connection
/// becomes a WebSocket (whose session then runs on the service's own task).
async fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    place: ConnectionPlace,
    service: ChanbindService,
) {
    // Connections go on through the drain; they close once the service stops.
    let mut stopped = service.stopped();
    let config = service.config().clone();
    let calls = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(PeerAddr(peer));
        request.extensions_mut().insert(place.clone());
        hyper::service::Service::call(&service, request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.head_limit())
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(socket), calls)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopping(&mut stopped) => {
            // Finishes the request in flight, if any, then closes instead of keeping alive.
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}
