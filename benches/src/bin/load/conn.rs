//! One connection of the load tool: connecting (hello and subscription included) and the
//! closed loop that drives it until the deadline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::mix::{classify, Incoming, Mix, Requester, SUBSCRIBE_EVENT, SUBSCRIBE_FRAME};

/// A client WebSocket over plain TCP (the tool refuses `wss://`: loopback only).
pub type Ws = WebSocketStream<TcpStream>;

/// The highest latency the histograms hold: one minute, well past any request timeout.
const MAX_LATENCY_US: u64 = 60_000_000;
/// Pause before reconnecting, so a dead server costs a few errors, not a busy loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// How long the final close handshake may take before the socket is just dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// What every connection of one run shares.
pub struct Run {
    /// The URL, for the handshake.
    pub url: String,
    /// The resolved loopback address.
    pub addr: SocketAddr,
    /// The mix.
    pub mix: Mix,
    /// How long one request (or one connect) may take before it counts as an error.
    pub timeout: Duration,
    /// No request starts after this.
    pub deadline: Instant,
    /// The cap on requests over all connections.
    pub max_requests: u64,
    /// Requests started so far, over all connections.
    pub started: AtomicU64,
}

/// What a connection does for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends a request, waits for its reply, and again.
    Requests,
    /// update-fanout: subscribes once, then only reads pushes.
    Subscriber,
}

/// One connection's counts, merged into the report at the end.
pub struct Stats {
    /// Requests answered with a reply (not an error).
    pub requests: u64,
    /// Error frames, timeouts, failed connects and disconnects.
    pub errors: u64,
    /// Frames that answered nothing: pushes, broadcasts.
    pub pushes: u64,
    /// Round trip of each answered request, in microseconds.
    pub latency: Histogram<u64>,
    /// The first error seen, to say on stderr why a run had errors.
    pub first_error: Option<String>,
    /// When the last request ended, before the closing handshake: the end of the measurement.
    pub finished: Option<Instant>,
}

impl Stats {
    /// Empty counts.
    pub fn new() -> Stats {
        let latency =
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
        Stats {
            requests: 0,
            errors: 0,
            pushes: 0,
            latency,
            first_error: None,
            finished: None,
        }
    }

    /// Counts one error and remembers the first one's reason.
    pub fn error(&mut self, why: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why());
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.pushes += other.pushes;
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.finished = self.finished.max(other.finished);
    }
}

/// Opens one connection ready for `role`: handshake, the hello skipped (chanbind servers),
/// and the subscription made (update-fanout subscribers). Bounded by `limit`.
pub async fn connect(run: &Run, role: Role, limit: Duration) -> Result<Ws, String> {
    let open = async {
        let socket = TcpStream::connect(run.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        // Nagle would hold each small request for the peer's delayed ack.
        socket
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let (mut ws, _) = tokio_tungstenite::client_async(run.url.as_str(), socket)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        if run.mix.expects_hello() {
            match ws.next().await {
                Some(Ok(Message::Text(text)))
                    if classify(&text, Some("hello")) == Incoming::Reply => {}
                other => return Err(format!("expected a hello frame, got {other:?}")),
            }
        }
        if role == Role::Subscriber {
            ws.send(Message::text(SUBSCRIBE_FRAME))
                .await
                .map_err(|e| format!("subscribe: {e}"))?;
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => match classify(&text, Some(SUBSCRIBE_EVENT)) {
                        Incoming::Reply => break,
                        Incoming::Push => {}
                        _ => return Err(format!("subscribe refused: {}", text.as_str())),
                    },
                    Some(Ok(_)) => {}
                    other => return Err(format!("subscribe: connection ended: {other:?}")),
                }
            }
        }
        Ok(ws)
    };
    let late = || {
        Err(format!(
            "connect, handshake, hello or subscription took over {limit:?}"
        ))
    };
    timeout(limit, open).await.unwrap_or_else(|_| late())
}

/// Drives connection `conn` until the deadline (or the request cap); `ws` is `None` when the
/// first connect failed, and the loop reconnects after every failure while time is left.
pub async fn drive(run: Arc<Run>, conn: usize, role: Role, mut ws: Option<Ws>) -> Stats {
    let mut stats = Stats::new();
    let mut requester = Requester::new(run.mix, conn);
    while Instant::now() < run.deadline {
        let Some(socket) = ws.as_mut() else {
            tokio::time::sleep_until((Instant::now() + RECONNECT_PAUSE).min(run.deadline)).await;
            if Instant::now() >= run.deadline {
                break;
            }
            // A reconnect must not carry the run past its deadline.
            let limit = run
                .timeout
                .min(run.deadline.saturating_duration_since(Instant::now()));
            match connect(&run, role, limit).await {
                Ok(fresh) => ws = Some(fresh),
                Err(e) => stats.error(|| e),
            }
            continue;
        };
        let outcome = match role {
            Role::Requests => {
                if run.started.fetch_add(1, Ordering::Relaxed) >= run.max_requests {
                    break;
                }
                request(socket, &mut requester, run.timeout, &mut stats).await
            }
            Role::Subscriber => listen(socket, run.deadline, &mut stats).await,
        };
        if let Err(e) = outcome {
            stats.error(|| e);
            ws = None;
        }
    }
    stats.finished = Some(Instant::now());
    if let Some(mut socket) = ws {
        // A clean close keeps the servers' logs free of reset connections.
        let _ = timeout(CLOSE_GRACE, async {
            let _ = socket.close(None).await;
            while let Some(Ok(_)) = socket.next().await {}
        })
        .await;
    }
    stats
}

/// One closed-loop step: send, then read until the reply. `Err` means the socket is unusable.
async fn request(
    ws: &mut Ws,
    requester: &mut Requester,
    limit: Duration,
    stats: &mut Stats,
) -> Result<(), String> {
    let text = requester.next_request();
    let reply_event = requester.reply_event();
    let sent = Instant::now();
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let frame = match timeout_at(sent + limit, ws.next()).await {
            Ok(frame) => frame,
            // The reply may still come and would be taken for the next one's: start afresh.
            Err(_) => return Err(format!("no reply within {limit:?}")),
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) if reply_event.is_none() => {
                record(stats, sent);
                return Ok(());
            }
            Some(Ok(Message::Close(close))) => {
                return Err(format!("closed by the server: {close:?}"))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("connection ended".to_owned()),
        };
        match classify(&text, reply_event) {
            Incoming::Reply => {
                record(stats, sent);
                return Ok(());
            }
            Incoming::ErrorReply => {
                stats.error(|| format!("error reply: {}", text.as_str()));
                return Ok(());
            }
            Incoming::Push => stats.pushes += 1,
            Incoming::StrayError | Incoming::Garbage => {
                stats.error(|| format!("stray frame: {}", text.as_str()))
            }
        }
    }
}

/// A subscriber's step: read one frame (or reach the deadline). `Err` means the socket is gone.
async fn listen(ws: &mut Ws, deadline: Instant, stats: &mut Stats) -> Result<(), String> {
    let Ok(frame) = timeout_at(deadline, ws.next()).await else {
        return Ok(());
    };
    match frame {
        Some(Ok(Message::Text(text))) => match classify(&text, Some(SUBSCRIBE_EVENT)) {
            Incoming::Reply | Incoming::Push => stats.pushes += 1,
            _ => stats.error(|| format!("subscriber got: {}", text.as_str())),
        },
        Some(Ok(Message::Close(close))) => return Err(format!("closed by the server: {close:?}")),
        Some(Ok(_)) => {}
        Some(Err(e)) => return Err(format!("receive: {e}")),
        None => return Err("connection ended".to_owned()),
    }
    Ok(())
}

fn record(stats: &mut Stats, sent: Instant) {
    stats.requests += 1;
    let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
    stats.latency.saturating_record(us.max(1));
}
