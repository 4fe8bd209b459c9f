//! One WebSocket connection, once upgraded: a reader that feeds the session and runs its jobs
//! in order, and a writer that drains the outbound queue.

use std::net::SocketAddr;
use std::sync::Arc;

use chanbind_engine::outbound::{Outbound as _, OutboundQueue};
use chanbind_engine::session::Step;
use chanbind_engine::{Admitted, Engine};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::outbound::ChannelOutbound;
use crate::server::stopping;

/// Close codes this adapter sends.
const GOING_AWAY: u16 = 1001;
const TOO_BIG: u16 = 1009;
const SLOW_CONSUMER: u16 = 4008;

/// Runs an accepted WebSocket until either side closes it or the server stops. The user was
/// admitted (origin, credentials, connection limits) on the upgrade request.
pub(crate) async fn run<S>(
    ws: WebSocketStream<S>,
    peer: SocketAddr,
    engine: Engine,
    admitted: Admitted,
    mut stopped: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = engine.limits().clone();
    let (mut sink, mut stream) = ws.split();
    let out = ChannelOutbound::new(OutboundQueue::for_limits(&limits));
    let (close_tx, mut close_rx) = mpsc::channel::<(u16, &'static str)>(1);
    let mut session = engine.open_admitted_session(admitted, out.clone());
    tracing::debug!(%peer, conn = session.id(), "connected");
    out.send(session.hello());

    // The writer owns the sink: frames in queue order, then at most one close frame. It ends
    // when the reader asks for a close, or ends itself (dropping `close_tx`).
    let queue = Arc::clone(&out);
    let writer = tokio::spawn(async move {
        let close = loop {
            tokio::select! {
                biased;
                close = close_rx.recv() => break close,
                () = queue.slowed() => break Some((SLOW_CONSUMER, "slow consumer")),
                frame = queue.next() => {
                    if sink.send(Message::text(frame.as_str())).await.is_err() {
                        break None;
                    }
                }
            }
        };
        if let Some((code, reason)) = close {
            // Flush what is already queued (an error frame before a 1009, say), then close.
            if code != SLOW_CONSUMER {
                while let Some(frame) = queue.pop() {
                    if sink.feed(Message::text(frame.as_str())).await.is_err() {
                        break;
                    }
                }
            }
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        // Actors still holding the connection learn it is gone at their next push.
        queue.close();
        let _ = sink.close().await;
    });

    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            // Also sees a stop signalled before this connection finished its upgrade.
            () = stopping(&mut stopped) => {
                let _ = close_tx.send((GOING_AWAY, "server shutting down")).await;
                break;
            }
        };
        match message {
            Some(Ok(Message::Text(text))) => match session.handle_text(text.as_str()) {
                Step::Reply(frame) => {
                    out.send(frame);
                }
                // Jobs run one after another, so a connection's writes apply in the order sent.
                Step::Run(job) => job.run().await,
            },
            Some(Ok(Message::Binary(_))) => {
                out.send(session.binary_refused());
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => {} // ping and pong are answered by tungstenite
            Some(Err(tungstenite::Error::Capacity(_))) => {
                out.send(session.too_large());
                let _ = close_tx.send((TOO_BIG, "message too big")).await;
                break;
            }
            Some(Err(e)) => {
                tracing::debug!(%peer, error = %e, "read failed");
                break;
            }
        }
    }
    drop(session);
    drop(close_tx);
    drop(out);
    let _ = writer.await;
    tracing::debug!(%peer, "disconnected");
}
