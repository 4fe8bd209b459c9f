//! An open WebSocket on its own thread: inbound frames go to the session one at a time, and the
//! outbound queue drains into tungstenite whenever the socket takes more.

use std::io::{self, ErrorKind, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::outbound::Outbound as _;
use chanbind_engine::session::{Session, Step};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

use super::SOCKET;
use crate::config::Shared;
use crate::outbound::ChannelOutbound;

/// Close codes this adapter sends, as the async adapter does.
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const INVALID_PAYLOAD: u16 = 1007;
const TOO_BIG: u16 = 1009;
const SLOW_CONSUMER: u16 = 4008;

/// After a frame too large to parse, how long the input must stay quiet before the socket is
/// dropped: the rest of that frame is read and thrown away first, so the kernel does not
/// answer unread bytes with a reset that could destroy the error frame in flight.
const QUIET: Duration = Duration::from_millis(200);

/// Why the open phase ended.
enum End {
    /// The client closed, the socket failed, or the close handshake is done: just drop.
    Gone,
    /// Close with this code, after sending what is queued (unless the code is 4008).
    Close(u16, &'static str),
}

/// One open connection.
pub(super) struct Connection<'a> {
    ws: WebSocket<TcpStream>,
    poll: Poll,
    events: Events,
    session: Session,
    out: Arc<ChannelOutbound>,
    shared: &'a Shared,
    /// tungstenite holds bytes the socket did not take; the queue waits until it does.
    blocked: bool,
    /// The socket is registered for writability.
    writable: bool,
}

impl<'a> Connection<'a> {
    pub(super) fn new(
        ws: WebSocket<TcpStream>,
        poll: Poll,
        session: Session,
        out: Arc<ChannelOutbound>,
        shared: &'a Shared,
    ) -> Self {
        Connection {
            ws,
            poll,
            events: Events::with_capacity(8),
            session,
            out,
            shared,
            blocked: false,
            writable: true,
        }
    }

    /// Serves the connection until it ends, then closes it.
    pub(super) fn serve(mut self) {
        self.out.send(self.session.hello());
        match self.open() {
            End::Gone => {}
            End::Close(code, reason) => self.close(code, reason),
        }
        // Actors still holding the connection learn it is gone at their next push.
        self.out.close();
    }

    /// The open phase: read everything the socket has, write everything queued, sleep.
    fn open(&mut self) -> End {
        loop {
            if let Some(end) = self.read_all() {
                return end;
            }
            if self.out.is_slow() {
                return End::Close(SLOW_CONSUMER, "slow consumer");
            }
            if self.shared.stopping.load(Ordering::Acquire) {
                return End::Close(GOING_AWAY, "server shutting down");
            }
            // From here a queued frame must wake the thread; the drain below sees every frame
            // queued before.
            self.out.going_to_sleep();
            if let Err(end) = self.pump() {
                return end;
            }
            if let Err(e) = self.sleep(None) {
                tracing::warn!(error = %e, "poll failed");
                return End::Gone;
            }
            self.out.woke_up();
        }
    }

    /// Reads and handles frames until the socket has no more; `Some` when the connection ends.
    fn read_all(&mut self) -> Option<End> {
        loop {
            let message = match self.ws.read() {
                Ok(message) => message,
                Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(WsError::Capacity(_)) => {
                    self.out.send(self.session.too_large());
                    return Some(End::Close(TOO_BIG, "message too big"));
                }
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return Some(End::Gone),
                // Tell a client that broke the protocol why, when the socket still takes it.
                Err(e @ (WsError::Protocol(_) | WsError::Utf8(_))) if self.ws.can_write() => {
                    tracing::debug!(error = %e, "protocol error");
                    let code = if matches!(e, WsError::Utf8(_)) {
                        INVALID_PAYLOAD
                    } else {
                        PROTOCOL_ERROR
                    };
                    return Some(End::Close(code, "protocol error"));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    return Some(End::Gone);
                }
            };
            match message {
                Message::Text(text) => match self.session.handle_text(text.as_str()) {
                    Step::Reply(frame) => {
                        self.out.send(frame);
                    }
                    // Jobs run one after another, so a connection's writes apply in the order
                    // sent. Store, lock and actor futures need no particular executor.
                    Step::Run(job) => futures_executor::block_on(job.run()),
                },
                Message::Binary(_) => {
                    self.out.send(self.session.binary_refused());
                }
                // tungstenite queued the reply; drive it out, then drop.
                Message::Close(_) => return Some(self.finish_peer_close()),
                _ => {} // ping and pong are answered by tungstenite
            }
            // Replies leave between requests, so a client that sends many at once still has
            // its answers taken off the queue as they come.
            if let Err(end) = self.pump() {
                return Some(end);
            }
            if self.out.is_slow() {
                return Some(End::Close(SLOW_CONSUMER, "slow consumer"));
            }
            // A client that never pauses must not hold a shutdown up.
            if self.shared.stopping.load(Ordering::Acquire) {
                return Some(End::Close(GOING_AWAY, "server shutting down"));
            }
        }
    }

    /// Moves queued frames into tungstenite while the socket takes them, then flushes.
    fn pump(&mut self) -> Result<(), End> {
        loop {
            if self.blocked {
                match self.ws.flush() {
                    Ok(()) => self.blocked = false,
                    Err(e) => return self.write_failed(e),
                }
            }
            let Some(frame) = self.out.pop() else { break };
            // A frame tungstenite could not pass on is kept in its buffer; the queue stops
            // draining until the socket takes it, so a reader that stops fills the queue.
            if let Err(e) = self.ws.write(Message::text(frame.as_str())) {
                self.write_failed(e)?;
            }
        }
        match self.ws.flush() {
            Ok(()) => Ok(()),
            Err(e) => self.write_failed(e),
        }
    }

    /// `Ok` (and blocked) when the socket was merely full.
    fn write_failed(&mut self, e: WsError) -> Result<(), End> {
        match e {
            WsError::Io(e) if e.kind() == ErrorKind::WouldBlock => {
                self.blocked = true;
                Ok(())
            }
            e => {
                tracing::debug!(error = %e, "write failed");
                Err(End::Gone)
            }
        }
    }

    /// Sleeps until the socket is ready, a frame is queued, or `timeout` passes. Writability is
    /// asked for only while tungstenite holds bytes the socket did not take.
    fn sleep(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if self.blocked != self.writable {
            let interest = if self.blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            self.poll
                .registry()
                .reregister(self.ws.get_mut(), SOCKET, interest)?;
            self.writable = self.blocked;
        }
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            other => other,
        }
    }

    /// The client sent a close frame: send tungstenite's reply and let the socket go.
    fn finish_peer_close(&mut self) -> End {
        let deadline = Instant::now() + self.shared.close_timeout;
        self.linger(deadline, false);
        End::Gone
    }

    /// Closes with `code`: queued frames first (except for a slow consumer, whose queue is
    /// what it could not take), then the close frame, then waits for the client's reply.
    fn close(&mut self, code: u16, reason: &'static str) {
        if code != SLOW_CONSUMER {
            while let Some(frame) = self.out.pop() {
                match self.ws.write(Message::text(frame.as_str())) {
                    Ok(()) => {}
                    Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => self.blocked = true,
                    Err(_) => return,
                }
            }
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        match self.ws.close(Some(frame)) {
            Ok(()) => {}
            Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => self.blocked = true,
            Err(_) => return,
        }
        let deadline = Instant::now() + self.shared.close_timeout;
        // After a frame too large or malformed, tungstenite cannot parse what follows: the
        // rest is thrown away raw.
        let raw = matches!(code, TOO_BIG | PROTOCOL_ERROR | INVALID_PAYLOAD);
        self.linger(deadline, raw);
    }

    /// Drives the close handshake until it is done, the input ends, or `deadline` passes.
    fn linger(&mut self, deadline: Instant, raw: bool) {
        let mut quiet_since = Instant::now();
        let mut scratch = [0u8; 8192];
        loop {
            match self.ws.flush() {
                Ok(()) => self.blocked = false,
                Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => self.blocked = true,
                Err(_) => return, // done (ConnectionClosed) or failed
            }
            if raw {
                loop {
                    match self.ws.get_mut().read(&mut scratch) {
                        Ok(0) => return,
                        Ok(_) => quiet_since = Instant::now(),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => return,
                    }
                }
                if !self.blocked && quiet_since.elapsed() >= QUIET {
                    return;
                }
            } else {
                loop {
                    match self.ws.read() {
                        Ok(_) => {}
                        Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => return, // the close handshake is done, or the socket failed
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::debug!("close not completed in time; dropping the connection");
                return;
            }
            let mut wait = deadline - now;
            if raw && !self.blocked {
                wait = wait.min(QUIET);
            }
            if self.sleep(Some(wait)).is_err() {
                return;
            }
        }
    }
}
