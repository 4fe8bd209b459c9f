//! The acceptor thread, and the handle that stops it gracefully.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chanbind_engine::Engine;
use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::config::{ServerConfig, Shared};
use crate::connection::{self, Spawned};

const LISTENER: Token = Token(0);
const WAKE: Token = Token(1);

/// How long the acceptor waits before accepting again after an error such as running out of
/// file descriptors: the pending connection stays in the backlog, and no new readiness event
/// would come for it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A running server. Dropping the handle leaves the server running; call
/// [`shutdown`](Self::shutdown) to stop it.
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    acceptor: JoinHandle<Stopped>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// What [`ServerHandle::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stopped {
    /// Connection threads that closed and were joined.
    pub joined: usize,
    /// Connection threads still busy when the grace period ran out (inside a long request),
    /// left to finish on their own.
    pub abandoned: usize,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many connection threads are running: WebSockets, HTTP connections (idle keep-alive
    /// ones included), and those still closing.
    pub fn connection_threads(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// Drains, then stops accepting, closes every WebSocket with 1001 (going away) and
    /// every idle HTTP connection, lets HTTP requests in flight finish, and joins every
    /// connection thread, waiting at most the configured `shutdown_grace`. The drain lasts
    /// `drain_delay` (none by default): `/readyz` answers 503 while the server accepts and
    /// serves as before. Blocks the caller; from async code, call it inside
    /// `tokio::task::spawn_blocking`.
    pub fn shutdown(self) -> Stopped {
        self.shared.draining.store(true, Ordering::Release);
        let delay = self.shared.settings.drain_delay;
        if !delay.is_zero() {
            tracing::info!(
                ?delay,
                "draining: /readyz answers 503 until connections close"
            );
            std::thread::sleep(delay);
        }
        self.shared.stopping.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            tracing::error!(error = %e, "cannot wake the acceptor");
        }
        self.acceptor.join().unwrap_or_else(|_| {
            tracing::error!("acceptor thread panicked");
            Stopped::default()
        })
    }
}

/// Binds `addr` and serves `engine` on it, the WebSocket endpoint and the HTTP API on the same
/// port, from an acceptor thread and one thread per connection. Returns once the socket listens; it does not block, so async code may call it.
pub fn bind(
    addr: impl ToSocketAddrs,
    engine: Engine,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let listener = std::net::TcpListener::bind(addr)?;
    serve(listener, engine, config)
}

/// Serves `engine` on a listener the application owns.
pub fn serve(
    listener: std::net::TcpListener,
    engine: Engine,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let mut listener = TcpListener::from_std(listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let shared = Arc::new(Shared::new(engine, &config));
    let acceptor = Acceptor {
        listener: Some(listener),
        poll,
        waker: Arc::clone(&waker),
        shared: Arc::clone(&shared),
        grace: config.shutdown_grace,
        children: HashMap::new(),
        next_id: 0,
        done: crossbeam_channel::unbounded(),
    };
    let acceptor = std::thread::Builder::new()
        .name(format!("chanbind-accept-{local_addr}"))
        .spawn(move || acceptor.run())?;
    Ok(ServerHandle {
        local_addr,
        shared,
        waker,
        acceptor,
    })
}

/// The acceptor thread's state.
struct Acceptor {
    /// Taken (closed) when the server stops.
    listener: Option<TcpListener>,
    poll: Poll,
    waker: Arc<Waker>,
    shared: Arc<Shared>,
    grace: Duration,
    children: HashMap<u64, Spawned>,
    next_id: u64,
    /// Connection threads report their id here as they end, so they are joined at once and a
    /// long-running server keeps no handles of finished threads.
    done: (Sender<u64>, Receiver<u64>),
}

impl Acceptor {
    fn run(mut self) -> Stopped {
        let mut events = Events::with_capacity(64);
        let mut backoff = None;
        loop {
            match self.poll.poll(&mut events, backoff) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!(error = %e, "acceptor poll failed; stopping the server");
                    break;
                }
            }
            self.reap();
            if self.shared.stopping.load(Ordering::Acquire) {
                break;
            }
            backoff = self.accept_all();
        }
        // Stop listening first, so new clients are refused rather than left waiting.
        drop(self.listener.take());
        self.shared.stopping.store(true, Ordering::Release);
        for child in self.children.values() {
            let _ = child.waker.wake();
        }
        self.drain()
    }

    /// Accepts every pending connection; `Some` backoff when accepting failed.
    fn accept_all(&mut self) -> Option<Duration> {
        loop {
            let accepted = self.listener.as_ref()?.accept();
            match accepted {
                Ok((stream, peer)) => self.start(stream, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    return Some(ACCEPT_BACKOFF);
                }
            }
        }
    }

    fn start(&mut self, stream: mio::net::TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let permit = match self.shared.engine.admit_connection() {
            Ok(permit) => permit,
            Err(refusal) => return connection::refuse(stream, peer, refusal, &self.shared),
        };
        let id = self.next_id;
        self.next_id += 1;
        let done = self.done.0.clone();
        let waker = Arc::clone(&self.waker);
        let on_exit = move || {
            // The place under `max_connections` is held until the thread ends.
            drop(permit);
            let _ = done.send(id);
            let _ = waker.wake();
        };
        match connection::spawn(stream, peer, Vec::new(), Arc::clone(&self.shared), on_exit) {
            Ok(spawned) => {
                self.children.insert(id, spawned);
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot start a connection thread; dropping the connection")
            }
        }
    }

    /// Joins the threads that reported their end.
    fn reap(&mut self) {
        while let Ok(id) = self.done.1.try_recv() {
            self.join(id);
        }
    }

    fn join(&mut self, id: u64) -> bool {
        match self.children.remove(&id) {
            Some(child) => {
                if child.thread.join().is_err() {
                    tracing::error!("connection thread panicked");
                }
                true
            }
            None => false, // its thread never started
        }
    }

    /// Joins every connection thread as it closes, for the grace period at most.
    fn drain(mut self) -> Stopped {
        let deadline = Instant::now() + self.grace;
        let mut stopped = Stopped::default();
        while !self.children.is_empty() {
            match self.done.1.recv_deadline(deadline) {
                Ok(id) => stopped.joined += usize::from(self.join(id)),
                Err(_) => break,
            }
        }
        stopped.abandoned = self.children.len();
        if stopped.abandoned > 0 {
            tracing::warn!(
                left = stopped.abandoned,
                "connections did not close in time; leaving them"
            );
        }
        stopped
    }
}
