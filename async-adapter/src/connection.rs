//! One WebSocket connection, once upgraded: a reader that feeds the session and runs its jobs
//! in order, and a writer that drains the outbound queue; then the close, which ends with a
//! bounded lingering read so the client sees the close frame rather than a reset.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::config::Limits;
use chanbind_engine::metrics::Adapter;
use chanbind_engine::outbound::Outbound as _;
use chanbind_engine::protocol::close::{
    self, Beat, Heartbeat, GOING_AWAY, IDLE_TIMEOUT, INVALID_PAYLOAD, PROTOCOL_ERROR,
    SLOW_CONSUMER, TOO_BIG,
};
use chanbind_engine::session::{Session, Step};
use chanbind_engine::trace;
use chanbind_engine::{Admitted, Engine};
use futures_util::future::poll_fn;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use crate::outbound::ChannelOutbound;
use crate::service::stopping;

/// How long a closing connection may take: its close frame to leave, then the client to close
/// its side. The sync adapter's default `close_timeout`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs an accepted WebSocket until either side closes it or the server stops. The user was
/// admitted (origin, credentials, connection limits) on the upgrade request. Everything it
/// does, its requests included, runs in its `connection` span ([`chanbind_engine::trace`]).
pub(crate) async fn run<S>(
    ws: WebSocketStream<S>,
    peer: Option<SocketAddr>,
    engine: Engine,
    admitted: Admitted,
    stopped: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = trace::connection_span("async", peer);
    serve(ws, peer, engine, admitted, stopped)
        .instrument(span)
        .await
}

async fn serve<S>(
    ws: WebSocketStream<S>,
    peer: Option<SocketAddr>,
    engine: Engine,
    admitted: Admitted,
    mut stopped: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = engine.limits().clone();
    let (sink, mut stream) = ws.split();
    let out = ChannelOutbound::new(engine.outbound_queue());
    // Capacity 1: the reader asks for one close, once.
    let (close_tx, close_rx) = mpsc::channel::<u16>(1);
    let ping = Arc::new(Notify::new());
    let mut session = engine.open_admitted_session(admitted, out.clone());
    let span = tracing::Span::current();
    trace::record_session(&span, session.id(), session.user());
    session.served_by(Adapter::Async);
    tracing::debug!(?peer, conn = session.id(), "connected");
    out.send(session.hello());

    let writer = write(sink, Arc::clone(&out), close_rx, Arc::clone(&ping));
    let writer = tokio::spawn(writer.instrument(span.clone()));
    let reader = Reader {
        session: &mut session,
        out: &out,
        ping: &ping,
        heartbeat: Heartbeat::new(&limits, std::time::Instant::now()),
    };
    let code = reader.read(&mut stream, &mut stopped, peer).await;
    trace::record_close(&span, code);
    drop(session);
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    if let Some(code) = code {
        engine.metrics().closed(code);
        let _ = close_tx.try_send(code);
    }
    drop(close_tx);
    drop(out);
    match writer.await {
        Ok(sink) => match stream.reunite(sink) {
            Ok(mut ws) => linger(ws.get_mut(), deadline, &limits).await,
            Err(e) => tracing::error!(?peer, error = %e, "WebSocket halves do not match"),
        },
        Err(e) => tracing::error!(?peer, error = %e, "WebSocket writer failed"),
    }
    tracing::debug!(?peer, "disconnected");
}

/// The reading half's state: the session it feeds and the keep-alive clock.
struct Reader<'a> {
    session: &'a mut Session,
    out: &'a Arc<ChannelOutbound>,
    /// Wakes the writer to send a ping.
    ping: &'a Notify,
    heartbeat: Heartbeat,
}

impl Reader<'_> {
    /// Reads and serves frames until the connection ends: `Some(code)` when the server is to
    /// close it with that code, `None` when the client closed or the socket failed.
    async fn read<S>(
        mut self,
        stream: &mut SplitStream<WebSocketStream<S>>,
        stopped: &mut watch::Receiver<bool>,
        peer: Option<SocketAddr>,
    ) -> Option<u16>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let due = self.heartbeat.deadline().map(Instant::from_std);
            let message = tokio::select! {
                // A client that never pauses must not hold a shutdown up, nor go on being
                // served once it is too slow; frames already here beat the idle clock.
                biased;
                // Also sees a stop signalled before this connection finished its upgrade.
                () = stopping(stopped) => return Some(GOING_AWAY),
                () = self.out.slowed() => return Some(SLOW_CONSUMER),
                // An expired credential (4001) or the application's disconnect (4003).
                code = self.out.ended() => return Some(code),
                message = stream.next() => message,
                () = sleep_until(due) => {
                    match self.heartbeat.tick(std::time::Instant::now()) {
                        Some(Beat::Ping) => self.ping.notify_one(),
                        Some(Beat::Idle) => return Some(IDLE_TIMEOUT),
                        None => {}
                    }
                    continue;
                }
            };
            if let Some(Ok(_)) = &message {
                self.heartbeat.heard(std::time::Instant::now());
            }
            match message {
                Some(Ok(Message::Text(text))) => {
                    // Declared slow while this frame was read: it is not served.
                    if self.out.is_slow() {
                        return Some(SLOW_CONSUMER);
                    }
                    // Nor after the engine asked for a close (the user's credential expired).
                    if let Some(code) = self.out.ending() {
                        return Some(code);
                    }
                    match self.session.handle_text(text.as_str()) {
                        Step::Reply(frame) => {
                            self.out.send(frame);
                        }
                        // Jobs run one after another, so a connection's writes apply in the
                        // order sent. What the client sent meanwhile (pongs) is still unread:
                        // time spent on its request is not silence.
                        Step::Run(job) => {
                            job.run().await;
                            self.heartbeat.heard(std::time::Instant::now());
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    self.out.send(self.session.binary_refused());
                }
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Ok(_)) => {} // ping and pong: tungstenite answers pings
                Some(Err(tungstenite::Error::Capacity(_))) => {
                    self.out.send(self.session.too_large());
                    return Some(TOO_BIG);
                }
                // Tell a client that broke the protocol why, as the sync adapter does.
                Some(Err(e @ tungstenite::Error::Protocol(_))) => {
                    tracing::debug!(?peer, error = %e, "protocol error");
                    return Some(PROTOCOL_ERROR);
                }
                Some(Err(e @ tungstenite::Error::Utf8(_))) => {
                    tracing::debug!(?peer, error = %e, "protocol error");
                    return Some(INVALID_PAYLOAD);
                }
                Some(Err(e)) => {
                    tracing::debug!(?peer, error = %e, "read failed");
                    return None;
                }
            }
        }
    }
}

/// Sleeps until `at`; forever when `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The writing half: frames in queue order and pings, then at most one close frame. It stops
/// when the reader asks for a close (or is gone) or the queue overflows, even in the middle of
/// a send the client does not take; the close itself gets [`CLOSE_TIMEOUT`]. Returns the sink
/// so the connection can linger on the whole socket.
async fn write<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    queue: Arc<ChannelOutbound>,
    mut close_rx: mpsc::Receiver<u16>,
    ping: Arc<Notify>,
) -> SplitSink<WebSocketStream<S>, Message>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A frame taken off the queue and not yet handed to tungstenite when a close came; the
    // close sends it first.
    let mut unsent = None;
    let close = loop {
        let message = tokio::select! {
            biased;
            close = close_rx.recv() => break close,
            () = queue.slowed() => break Some(SLOW_CONSUMER),
            () = ping.notified() => Message::Ping(Default::default()),
            frame = queue.next() => Message::text(frame.as_str()),
        };
        // A client that stops reading leaves the send pending, waiting for room or for the
        // flush: the overflow it causes, or the reader's close (idle, shutdown), ends it. The
        // send goes in steps so that a close never loses a frame: before `start_send` the
        // frame is still ours, after it the frame is in tungstenite's buffer, ahead of the
        // close frame.
        let ready = tokio::select! {
            biased;
            ready = poll_fn(|cx| sink.poll_ready_unpin(cx)) => ready,
            close = close_rx.recv() => {
                unsent = Some(message);
                break close;
            }
            () = queue.slowed() => break Some(SLOW_CONSUMER),
        };
        if ready.is_err() || sink.start_send_unpin(message).is_err() {
            break None;
        }
        let flushed = tokio::select! {
            biased;
            flushed = sink.flush() => flushed,
            close = close_rx.recv() => break close,
            () = queue.slowed() => break Some(SLOW_CONSUMER),
        };
        if flushed.is_err() {
            break None;
        }
    };
    let finish = async {
        match close {
            Some(code) => {
                // Flush what is already queued (an error frame before a 1009, say), then
                // close; a slow consumer's queue is what it could not take.
                if code != SLOW_CONSUMER {
                    if let Some(message) = unsent {
                        if sink.feed(message).await.is_err() {
                            return;
                        }
                    }
                    while let Some(frame) = queue.pop() {
                        if sink.feed(Message::text(frame.as_str())).await.is_err() {
                            return;
                        }
                    }
                }
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: close::reason(code).into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
            }
            // The client closed: tungstenite's reply to its close frame leaves here.
            None => {
                let _ = sink.flush().await;
            }
        }
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, finish).await.is_err() {
        tracing::debug!("close frame not sent in time");
    }
    // Actors still holding the connection learn it is gone at their next push.
    queue.close();
    sink
}

/// Ends the socket: our side shut down (the client sees the end right after the close frame),
/// then what the client still sends is read and thrown away until it closes too, at most
/// [`close::linger_bytes`] and until `deadline`. Dropping a socket with unread input would
/// make the kernel reset the connection, destroying the close frame in flight.
async fn linger<S>(io: &mut S, deadline: Instant, limits: &Limits)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut left = close::linger_bytes(limits);
    let drain = async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut scratch = [0u8; 8192];
        while left > 0 {
            match io.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
        tracing::debug!("the client went on sending after the close; dropping it");
    };
    if tokio::time::timeout_at(deadline, drain).await.is_err() {
        tracing::debug!("the client did not close in time; dropping it");
    }
}
