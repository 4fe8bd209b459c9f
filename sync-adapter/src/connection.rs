//! One connection, one thread: the thread owns a mio `Poll`, the socket and a `Waker`, serves
//! HTTP requests ([`http`]) until the connection ends or a WebSocket handshake ([`handshake`])
//! turns it into a WebSocket ([`socket`]), which then runs until the connection ends.

mod handshake;
pub(crate) mod http;
mod refuse;

pub(crate) use refuse::spawn as refuse;
mod socket;
mod transport;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use chanbind_engine::trace;
use crossbeam_channel::Receiver;
use mio::net::TcpStream;
use mio::{Poll, Token, Waker};
use tungstenite::protocol::Role;
use tungstenite::WebSocket;

use crate::config::{ServerConfig, Shared};
use crate::outbound::ChannelOutbound;

/// The socket's token in a connection thread's `Poll`.
pub(crate) const SOCKET: Token = Token(0);
/// The waker's token: a push was queued, or the server is stopping.
pub(crate) const WAKE: Token = Token(1);

/// A connection thread, as its starter holds it.
pub(crate) struct Spawned {
    /// Wakes the thread (to notice a shutdown).
    pub(crate) waker: Arc<Waker>,
    /// The thread.
    pub(crate) thread: JoinHandle<()>,
}

/// Starts the thread of one accepted connection. `on_exit` runs as the thread ends, even if it
/// panics, so its starter can join it at once.
pub(crate) fn spawn(
    stream: TcpStream,
    peer: SocketAddr,
    already_read: Vec<u8>,
    shared: Arc<Shared>,
    on_exit: impl FnOnce() + Send + 'static,
) -> io::Result<Spawned> {
    // The Poll and Waker are made here so that running out of file descriptors refuses this
    // one connection, in the caller, instead of failing inside a thread.
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let thread_waker = Arc::clone(&waker);
    shared.live.fetch_add(1, Ordering::AcqRel);
    let guard = ExitGuard {
        shared: Arc::clone(&shared),
        on_exit: Some(on_exit),
    };
    let spawned = std::thread::Builder::new()
        .name(format!("chanbind-conn-{peer}"))
        .spawn(move || {
            let _guard = guard;
            run(
                stream,
                peer,
                already_read,
                poll,
                thread_waker,
                &_guard.shared,
            );
        });
    match spawned {
        Ok(thread) => Ok(Spawned { waker, thread }),
        // The guard went down with the closure, which ran `on_exit` and the count.
        Err(e) => Err(e),
    }
}

/// Counts the thread out and tells its starter, however the thread ends.
struct ExitGuard<F: FnOnce()> {
    shared: Arc<Shared>,
    on_exit: Option<F>,
}

impl<F: FnOnce()> Drop for ExitGuard<F> {
    fn drop(&mut self) {
        self.shared.live.fetch_sub(1, Ordering::AcqRel);
        if let Some(on_exit) = self.on_exit.take() {
            on_exit();
        }
    }
}

/// The body of a connection thread; `already_read` is what the application read from the
/// stream before handing it over, the first bytes of the first request.
fn run(
    stream: TcpStream,
    peer: SocketAddr,
    already_read: Vec<u8>,
    poll: Poll,
    waker: Arc<Waker>,
    shared: &Shared,
) {
    // Requests run here; with the runtime's context entered, tokio timers and spawns in custom
    // handlers or an async store work as they would on the async adapter.
    let _context = shared.runtime.as_ref().map(|rt| rt.enter());
    let mut io = match transport::Io::new(stream, poll, shared) {
        Ok(io) => io,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot register a connection");
            return;
        }
    };
    // Parsed as if just read from the socket: a head, in part or whole, maybe followed by a
    // body, pipelined requests or (past a handshake) WebSocket frames.
    io.buf = already_read;
    let Some((io, admitted)) = http::serve(io, peer, shared) else {
        return;
    };
    // Frames the client sent right behind its handshake are already in the buffer.
    let (stream, poll, read) = io.into_parts();
    let ws = WebSocket::from_partially_read(stream, read, Role::Server, Some(shared.ws_config));
    let out = ChannelOutbound::new(shared.engine.outbound_queue(), waker);
    // The WebSocket's span ([`chanbind_engine::trace`]): its requests are its children. The
    // HTTP requests this thread served before the upgrade each have a span of their own.
    let span = trace::connection_span("sync", Some(peer));
    let _entered = span.enter();
    let mut session = shared.engine.open_admitted_session(admitted, out.clone());
    session.served_by(chanbind_engine::metrics::Adapter::Sync);
    trace::record_session(&span, session.id(), session.user());
    tracing::debug!(%peer, conn = session.id(), "connected");
    let code = socket::Connection::new(ws, poll, session, out, shared).serve();
    trace::record_close(&span, code);
    tracing::debug!(%peer, "disconnected");
}

/// Serves one connection the application has already accepted, on a new thread, with the same
/// HTTP API, handshake, authentication and protocol as a server started by
/// [`bind`](crate::bind).
///
/// ```no_run
/// # fn demo(engine: chanbind_engine::Engine) -> std::io::Result<()> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:8000")?;
/// let (stream, _) = listener.accept()?;
/// let conn = chanbind_sync::serve_stream(stream, engine, &Default::default())?;
/// conn.join();
/// # Ok(()) }
/// ```
pub fn serve_stream(
    stream: std::net::TcpStream,
    engine: chanbind_engine::Engine,
    config: &ServerConfig,
) -> io::Result<ConnectionHandle> {
    serve_stream_with(stream, &[], engine, config)
}

/// [`serve_stream`] for a connection the application has already read from: `already_read`
/// is taken as the start of the stream, exactly as if the adapter had read it. It may hold
/// part of the first request head, all of it, or more (the body, pipelined requests, or the
/// first WebSocket frames after a handshake); the rest is read from `stream`.
///
/// This is how a blocking program with an accept loop of its own answers some paths itself and
/// hands every other connection to chanbind, once it has read enough to route it. The stream
/// may be blocking or not, and have timeouts set: the adapter makes it non-blocking.
///
/// ```no_run
/// use std::io::Read;
/// # fn demo(engine: chanbind_engine::Engine) -> std::io::Result<()> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:8000")?;
/// let (mut stream, _) = listener.accept()?;
/// let mut head = vec![0; 4096];
/// let n = stream.read(&mut head)?;
/// head.truncate(n);
/// // ... the program looks at `head` and decides chanbind answers this one:
/// let conn = chanbind_sync::serve_stream_with(stream, &head, engine, &Default::default())?;
/// conn.join();
/// # Ok(()) }
/// ```
pub fn serve_stream_with(
    stream: std::net::TcpStream,
    already_read: &[u8],
    engine: chanbind_engine::Engine,
    config: &ServerConfig,
) -> io::Result<ConnectionHandle> {
    let peer = stream.peer_addr()?;
    stream.set_nonblocking(true)?;
    let _ = stream.set_nodelay(true);
    let shared = Arc::new(Shared::new(engine, config));
    let (done_tx, done) = crossbeam_channel::bounded(1);
    let spawned = spawn(
        TcpStream::from_std(stream),
        peer,
        already_read.to_vec(),
        Arc::clone(&shared),
        move || {
            let _ = done_tx.send(());
        },
    )?;
    Ok(ConnectionHandle {
        shared,
        spawned,
        done,
        peer,
        grace: config.shutdown_grace,
    })
}

/// The thread of a connection started by [`serve_stream`]. Dropping the handle leaves the
/// connection running until the client leaves.
pub struct ConnectionHandle {
    shared: Arc<Shared>,
    spawned: Spawned,
    done: Receiver<()>,
    peer: SocketAddr,
    grace: Duration,
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionHandle")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl ConnectionHandle {
    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the connection has ended and its thread finished.
    pub fn is_finished(&self) -> bool {
        self.spawned.thread.is_finished()
    }

    /// Waits until the connection ends by itself.
    pub fn join(self) {
        if self.spawned.thread.join().is_err() {
            tracing::error!(peer = %self.peer, "connection thread panicked");
        }
    }

    /// Closes the connection (a WebSocket with 1001, going away; an HTTP connection once its
    /// request in flight, if any, is answered) and joins its thread, waiting at most the
    /// configured `shutdown_grace`. Returns `false` when the thread was still busy (inside a
    /// long request) and was left to finish on its own.
    pub fn close(self) -> bool {
        self.shared.stopping.store(true, Ordering::Release);
        let _ = self.spawned.waker.wake();
        if self.done.recv_timeout(self.grace).is_err() {
            tracing::warn!(peer = %self.peer, "connection did not close in time; leaving it");
            return false;
        }
        self.join();
        true
    }
}
