//! An open WebSocket on its own thread: inbound frames go to the session one at a time, and the
//! outbound queue drains into tungstenite whenever the socket takes more.

use std::io::{self, ErrorKind, Read};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::outbound::Outbound as _;
use chanbind_engine::protocol::close::{
    self, Beat, Heartbeat, GOING_AWAY, IDLE_TIMEOUT, INVALID_PAYLOAD, PROTOCOL_ERROR,
    SLOW_CONSUMER, TOO_BIG,
};
use chanbind_engine::session::{Session, Step};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Error as WsError, Message, WebSocket};

use super::SOCKET;
use crate::config::Shared;
use crate::outbound::ChannelOutbound;

/// Why the open phase ended.
enum End {
    /// The client closed, the socket failed, or the close handshake is done: just drop.
    Gone,
    /// Close with this code, after sending what is queued (unless the code is 4008).
    Close(u16),
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
    /// When to ping, and when the client has been silent too long.
    heartbeat: Heartbeat,
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
            heartbeat: Heartbeat::new(shared.engine.limits(), Instant::now()),
        }
    }

    /// Serves the connection until it ends, then closes it. Returns the close code the
    /// server sent, `None` when the client closed or the socket failed.
    pub(super) fn serve(mut self) -> Option<u16> {
        self.out.send(self.session.hello());
        let code = match self.open() {
            End::Gone => None,
            End::Close(code) => {
                self.close(code);
                Some(code)
            }
        };
        // Actors still holding the connection learn it is gone at their next push.
        self.out.close();
        code
    }

    /// The open phase: read everything the socket has, write everything queued, sleep.
    fn open(&mut self) -> End {
        loop {
            if let Some(end) = self.read_all() {
                return end;
            }
            if self.out.is_slow() {
                return End::Close(SLOW_CONSUMER);
            }
            // An expired credential (4001) or the application's disconnect (4003).
            if let Some(code) = self.out.ending() {
                return End::Close(code);
            }
            if self.shared.stopping.load(Ordering::Acquire) {
                return End::Close(GOING_AWAY);
            }
            if let Err(end) = self.beat() {
                return end;
            }
            // From here a queued frame must wake the thread; the drain below sees every frame
            // queued before.
            self.out.going_to_sleep();
            if let Err(end) = self.pump() {
                return end;
            }
            let wait = self
                .heartbeat
                .deadline()
                .map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.sleep(wait) {
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
                    return Some(End::Close(TOO_BIG));
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
                    return Some(End::Close(code));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    return Some(End::Gone);
                }
            };
            self.heartbeat.heard(Instant::now());
            match message {
                // Declared slow (by a push from another thread) since the last check: the
                // frame is not served.
                Message::Text(_) if self.out.is_slow() => {
                    return Some(End::Close(SLOW_CONSUMER));
                }
                // Nor after the engine asked for a close (the user's credential expired).
                Message::Text(_) if self.out.ending().is_some() => {
                    return Some(End::Close(self.out.ending().unwrap_or(GOING_AWAY)));
                }
                Message::Text(text) => match self.session.handle_text(text.as_str()) {
                    Step::Reply(frame) => {
                        self.out.send(frame);
                    }
                    // Jobs run one after another, so a connection's writes apply in the order
                    // sent. Store, lock and actor futures need no particular executor. What
                    // the client sent meanwhile (pongs) is still unread: time spent on its
                    // request is not silence.
                    Step::Run(job) => {
                        futures_executor::block_on(job.run());
                        self.heartbeat.heard(Instant::now());
                    }
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
                return Some(End::Close(SLOW_CONSUMER));
            }
            // A client that never pauses must not hold a shutdown up.
            if self.shared.stopping.load(Ordering::Acquire) {
                return Some(End::Close(GOING_AWAY));
            }
        }
    }

    /// Sends a ping when one is due; `Err` when the client was silent too long.
    fn beat(&mut self) -> Result<(), End> {
        match self.heartbeat.tick(Instant::now()) {
            Some(Beat::Ping) => match self.ws.write(Message::Ping(Default::default())) {
                Ok(()) => Ok(()),
                Err(e) => self.write_failed(e),
            },
            Some(Beat::Idle) => Err(End::Close(IDLE_TIMEOUT)),
            None => Ok(()),
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
        self.linger(deadline);
        End::Gone
    }

    /// Closes with `code`: queued frames first (except for a slow consumer, whose queue is
    /// what it could not take), then the close frame, then lingers until the client closes.
    fn close(&mut self, code: u16) {
        self.shared.engine.metrics().closed(code);
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
            reason: close::reason(code).into(),
        };
        match self.ws.close(Some(frame)) {
            Ok(()) => {}
            Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => self.blocked = true,
            Err(_) => return,
        }
        let deadline = Instant::now() + self.shared.close_timeout;
        self.linger(deadline);
    }

    /// Ends the socket: once tungstenite has passed on everything (the close frame, or the
    /// reply to the client's), our side is shut down, so the client sees the end right after
    /// it. Meanwhile and after, what the client sends is read raw and thrown away (after a
    /// frame too large or malformed, tungstenite could not parse it anyway) until the client
    /// closes too, at most [`close::linger_bytes`] and until `deadline`: dropping a socket with
    /// unread input would make the kernel reset the connection, destroying the close frame in
    /// flight.
    fn linger(&mut self, deadline: Instant) {
        let mut left = close::linger_bytes(self.shared.engine.limits());
        let mut shut = false;
        let mut scratch = [0u8; 8192];
        loop {
            if !shut {
                match self.ws.flush() {
                    // `ConnectionClosed`: the reply to the client's close is out.
                    Ok(()) | Err(WsError::ConnectionClosed) => {
                        self.blocked = false;
                        if self.ws.get_mut().shutdown(Shutdown::Write).is_err() {
                            return;
                        }
                        shut = true;
                    }
                    Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => self.blocked = true,
                    Err(_) => return,
                }
            }
            loop {
                match self.ws.get_mut().read(&mut scratch) {
                    Ok(0) => return,
                    Ok(n) => {
                        left = left.saturating_sub(n);
                        if left == 0 {
                            tracing::debug!("the client went on sending after the close");
                            return;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::debug!("close not completed in time; dropping the connection");
                return;
            }
            if self.sleep(Some(deadline - now)).is_err() {
                return;
            }
        }
    }
}
