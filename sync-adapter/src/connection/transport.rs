//! A connection's socket while it speaks HTTP: a read buffer, and reads and writes that wait on
//! the thread's `Poll` up to a deadline, so no client holds the thread for longer than the
//! configured time.

use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chanbind_engine::protocol::close;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll};

use super::SOCKET;
use crate::config::Shared;

/// How much one read takes from the socket at most.
const READ_CHUNK: usize = 16 * 1024;

/// Why a read or a write gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gone {
    /// The client closed its side, or the socket failed.
    Closed,
    /// The deadline passed.
    TimedOut,
    /// The server is stopping, and the caller asked to hear of it.
    Stopping,
}

/// The socket, its `Poll`, and what was read but not used yet.
pub(super) struct Io<'a> {
    stream: TcpStream,
    poll: Poll,
    events: Events,
    /// Bytes read and not consumed yet: the rest of a head, a body, pipelined requests, or the
    /// first WebSocket frames that followed a handshake.
    pub(super) buf: Vec<u8>,
    shared: &'a Shared,
}

impl<'a> Io<'a> {
    /// Registers the socket with `poll`. Both directions from the start, as the WebSocket
    /// phase expects: readiness is edge-triggered, so a spurious wake-up costs one retry.
    pub(super) fn new(mut stream: TcpStream, poll: Poll, shared: &'a Shared) -> io::Result<Self> {
        poll.registry()
            .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Io {
            stream,
            poll,
            events: Events::with_capacity(4),
            buf: Vec::new(),
            shared,
        })
    }

    /// The socket, still registered, its `Poll`, and the bytes read past the last head.
    /// The client's address, for per-address limits.
    pub(super) fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.stream.peer_addr().ok().map(|a| a.ip())
    }

    pub(super) fn into_parts(self) -> (TcpStream, Poll, Vec<u8>) {
        (self.stream, self.poll, self.buf)
    }

    /// Drops the first `n` buffered bytes.
    pub(super) fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    /// Whether the server is stopping.
    pub(super) fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    /// Reads what the socket has without waiting, keeping at most `max` bytes buffered:
    /// `Ok(false)` when nothing came.
    pub(super) fn read_now(&mut self, max: usize) -> Result<bool, Gone> {
        let room = max.saturating_sub(self.buf.len()).min(READ_CHUNK);
        if room == 0 {
            return Ok(false);
        }
        let start = self.buf.len();
        self.buf.resize(start + room, 0);
        let read = loop {
            match self.stream.read(&mut self.buf[start..]) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                self.buf.truncate(start);
                Err(Gone::Closed)
            }
            Ok(n) => {
                self.buf.truncate(start + n);
                Ok(true)
            }
            Err(e) => {
                self.buf.truncate(start);
                if e.kind() == ErrorKind::WouldBlock {
                    Ok(false)
                } else {
                    Err(Gone::Closed)
                }
            }
        }
    }

    /// Reads at least one more byte, keeping at most `max` bytes buffered (the caller leaves
    /// room), waiting until `deadline`; with `watch_stop`, gives up when the server stops.
    pub(super) fn fill(
        &mut self,
        max: usize,
        deadline: Instant,
        watch_stop: bool,
    ) -> Result<(), Gone> {
        loop {
            // Read before waiting: with edge-triggered readiness, only a read that would block
            // promises an event for the next bytes.
            if self.read_now(max)? {
                return Ok(());
            }
            self.wait(deadline, watch_stop)?;
        }
    }

    /// Writes all of `bytes`, waiting for the socket to take them until `deadline`.
    pub(super) fn write_all(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<(), Gone> {
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(0) => return Err(Gone::Closed),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(deadline, false)?,
                Err(_) => return Err(Gone::Closed),
            }
        }
        Ok(())
    }

    /// Ends the connection after its last response: no more output, then the input is read
    /// and thrown away until the client closes, at most [`close::linger_bytes`] and until
    /// `close_timeout`. Unread bytes (a refused body, say) would make the kernel answer with a
    /// reset that can destroy the response still in flight.
    pub(super) fn close(mut self) {
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let deadline = Instant::now() + self.shared.close_timeout;
        let mut left = close::linger_bytes(self.shared.engine.limits());
        loop {
            self.buf.clear();
            match self.read_now(READ_CHUNK) {
                Ok(true) => left = left.saturating_sub(self.buf.len()),
                Ok(false) => {
                    if self.wait(deadline, false).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
            // A client that never stops sending is cut off all the same.
            if left == 0 || Instant::now() >= deadline {
                return;
            }
        }
    }

    /// Waits for the socket (or the waker) until `deadline`.
    fn wait(&mut self, deadline: Instant, watch_stop: bool) -> Result<(), Gone> {
        loop {
            if watch_stop && self.stopping() {
                return Err(Gone::Stopping);
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return Err(Gone::TimedOut);
            };
            match self.poll.poll(&mut self.events, Some(left)) {
                Ok(()) if self.events.is_empty() => {} // timed out: checked above
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "poll failed");
                    return Err(Gone::Closed);
                }
            }
        }
    }
}
