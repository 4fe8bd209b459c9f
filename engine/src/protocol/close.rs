//! How a server ends a WebSocket, the same on both adapters: the close codes it sends, when a
//! silent connection counts as gone ([`Heartbeat`]), and how much a closing connection goes on
//! reading so that the client sees the close frame rather than a reset. The codes are those
//! of docs/protocol.md section 7.
//!
//! | code | reason | when |
//! |---|---|---|
//! | 1001 | `server shutting down` | the server stops |
//! | 1002 | `protocol error` | the client broke the WebSocket protocol (an unmasked frame, an unknown opcode, a fragmented control frame, ...) |
//! | 1007 | `protocol error` | a text frame that is not UTF-8 |
//! | 1009 | `message too big` | a frame over `max_message_bytes` (after an `error` frame with `too_large`) |
//! | 4000 | `idle timeout` | nothing (no frame, no pong) came from the client for `idle_timeout` |
//! | 4001 | `credential expired` | the user's credential expired ([`User::expires_at`](crate::auth::User::expires_at)) and no `auth.refresh` replaced it |
//! | 4003 | `disconnected by the application` | [`Engine::disconnect_user`](crate::Engine::disconnect_user) |
//! | 4008 | `slow consumer` | the client does not read its pushes fast enough |

use std::time::{Duration, Instant};

use crate::config::Limits;

/// The server is stopping.
pub const GOING_AWAY: u16 = 1001;
/// The client broke the WebSocket protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// A text frame was not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A frame was larger than `max_message_bytes`.
pub const TOO_BIG: u16 = 1009;
/// The client stayed silent (no frame, no pong) for `idle_timeout`.
pub const IDLE_TIMEOUT: u16 = 4000;
/// The client does not read what it is sent fast enough.
pub const SLOW_CONSUMER: u16 = 4008;
/// The user's credential expired and the connection did not refresh it in-band.
pub const AUTH_EXPIRED: u16 = 4001;
/// The application disconnected the user ([`Engine::disconnect_user`](crate::Engine::disconnect_user)).
pub const DISCONNECTED: u16 = 4003;

/// The reason text sent with `code`.
pub fn reason(code: u16) -> &'static str {
    match code {
        GOING_AWAY => "server shutting down",
        PROTOCOL_ERROR | INVALID_PAYLOAD => "protocol error",
        TOO_BIG => "message too big",
        IDLE_TIMEOUT => "idle timeout",
        SLOW_CONSUMER => "slow consumer",
        AUTH_EXPIRED => "credential expired",
        DISCONNECTED => "disconnected by the application",
        _ => "",
    }
}

/// How much a closing connection reads and throws away, at most, before it drops the socket.
///
/// Bytes left unread when a socket is dropped make the kernel answer with a reset, which can
/// destroy the close frame still on its way to the client (a frame too large, refused after
/// its header, leaves its whole payload behind). So after its close frame the server shuts
/// its side down and reads until the client closes too, up to this many bytes and the close
/// timeout: one frame of the largest size allowed, and some slack for what follows it.
pub fn linger_bytes(limits: &Limits) -> usize {
    limits.max_message_bytes.saturating_add(64 * 1024)
}

/// The keep-alive clock of one connection: when to ping, and when silence means the client is
/// gone. A zero `ping_interval` sends no pings; a zero `idle_timeout` never closes.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    ping_interval: Option<Duration>,
    idle_timeout: Option<Duration>,
    last_heard: Instant,
    next_ping: Option<Instant>,
}

/// What a [`Heartbeat`] says is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Send a ping.
    Ping,
    /// The client was silent too long: close with [`IDLE_TIMEOUT`].
    Idle,
}

impl Heartbeat {
    /// The clock of a connection that opened at `now`, with `limits`' ping interval and idle
    /// timeout.
    pub fn new(limits: &Limits, now: Instant) -> Heartbeat {
        let ping_interval = Some(limits.ping_interval).filter(|d| !d.is_zero());
        Heartbeat {
            ping_interval,
            idle_timeout: Some(limits.idle_timeout).filter(|d| !d.is_zero()),
            last_heard: now,
            next_ping: ping_interval.map(|every| now + every),
        }
    }

    /// The client sent something (any frame, a pong included) at `now`.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// When [`tick`](Self::tick) next has something to say; `None` when never.
    pub fn deadline(&self) -> Option<Instant> {
        let idle = self.idle_timeout.map(|t| self.last_heard + t);
        match (idle, self.next_ping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What is due at `now`: [`Beat::Idle`] once the client was silent for the idle timeout,
    /// else [`Beat::Ping`] once per ping interval.
    pub fn tick(&mut self, now: Instant) -> Option<Beat> {
        if let Some(timeout) = self.idle_timeout {
            if now.saturating_duration_since(self.last_heard) >= timeout {
                return Some(Beat::Idle);
            }
        }
        match (self.next_ping, self.ping_interval) {
            (Some(at), Some(every)) if now >= at => {
                self.next_ping = Some(now + every);
                Some(Beat::Ping)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(ping_ms: u64, idle_ms: u64) -> Limits {
        Limits {
            ping_interval: Duration::from_millis(ping_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            ..Limits::default()
        }
    }

    #[test]
    fn pings_on_the_interval_and_closes_after_silence() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut hb = Heartbeat::new(&limits(100, 300), t0);
        assert_eq!(hb.deadline(), Some(ms(100)));
        assert_eq!(hb.tick(ms(50)), None);
        assert_eq!(hb.tick(ms(100)), Some(Beat::Ping));
        assert_eq!(hb.tick(ms(150)), None);
        assert_eq!(hb.deadline(), Some(ms(200)));
        assert_eq!(hb.tick(ms(299)), Some(Beat::Ping));
        assert_eq!(hb.tick(ms(300)), Some(Beat::Idle));
    }

    #[test]
    fn anything_heard_postpones_the_idle_close() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut hb = Heartbeat::new(&limits(1000, 300), t0);
        hb.heard(ms(250));
        assert_eq!(hb.deadline(), Some(ms(550)));
        assert_eq!(hb.tick(ms(500)), None);
        assert_eq!(hb.tick(ms(550)), Some(Beat::Idle));
    }

    #[test]
    fn zero_turns_either_off() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(&limits(0, 0), t0);
        assert_eq!(hb.deadline(), None);
        assert_eq!(hb.tick(t0 + Duration::from_secs(3600)), None);
    }

    #[test]
    fn every_code_has_its_reason() {
        for code in [
            GOING_AWAY,
            PROTOCOL_ERROR,
            INVALID_PAYLOAD,
            TOO_BIG,
            IDLE_TIMEOUT,
            SLOW_CONSUMER,
            AUTH_EXPIRED,
            DISCONNECTED,
        ] {
            assert!(!reason(code).is_empty(), "{code}");
        }
        assert!(linger_bytes(&Limits::default()) > Limits::default().max_message_bytes);
    }
}
