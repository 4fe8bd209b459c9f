//! One WebSocket connection: the handshake, a reader that feeds the session and runs its jobs
//! in order, and a writer that drains the outbound queue.

use std::net::SocketAddr;

use chanbind_engine::auth::RequestHead;
use chanbind_engine::outbound::Outbound as _;
use chanbind_engine::session::Step;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::outbound::ChannelOutbound;

/// Close codes this adapter sends.
const GOING_AWAY: u16 = 1001;
const TOO_BIG: u16 = 1009;
const SLOW_CONSUMER: u16 = 4008;

// tungstenite's handshake callback must return its `ErrorResponse` by value.
#[allow(clippy::result_large_err)]
pub(crate) async fn run(socket: TcpStream, peer: SocketAddr, engine: Engine, path: String, mut stopped: watch::Receiver<bool>) {
    let limits = engine.limits().clone();
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let mut user = None;
    let handshake = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let refuse = |status: u16, body: &str| {
            let mut err = ErrorResponse::new(Some(body.to_owned()));
            *err.status_mut() = tungstenite::http::StatusCode::from_u16(status)
                .unwrap_or(tungstenite::http::StatusCode::INTERNAL_SERVER_ERROR);
            err
        };
        if req.uri().path() != path {
            return Err(refuse(404, "no WebSocket endpoint here"));
        }
        let head = RequestHead { uri: req.uri().clone(), headers: req.headers().clone() };
        // The handshake callback is synchronous; authenticators are expected to answer fast
        // (a table lookup or a signature check).
        match futures_executor::block_on(engine.authenticate(&head)) {
            Ok(found) => {
                user = found;
                Ok(resp)
            }
            Err(refusal) => Err(refuse(refusal.http_status(), &refusal.to_string())),
        }
    };
    let ws = match tokio_tungstenite::accept_hdr_async_with_config(socket, handshake, Some(ws_config)).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "handshake failed");
            return;
        }
    };
    let (mut sink, mut stream) = ws.split();
    let (out, mut rx, slow) = ChannelOutbound::new(limits.outbound_queue);
    let (close_tx, mut close_rx) = mpsc::channel::<(u16, &'static str)>(1);
    let mut session = engine.open_session(user, out.clone());
    tracing::debug!(%peer, conn = session.id(), "connected");
    out.send(session.hello());

    // The writer owns the sink: frames in queue order, then at most one close frame.
    let writer = tokio::spawn(async move {
        let close = loop {
            tokio::select! {
                biased;
                Some(close) = close_rx.recv() => break Some(close),
                () = slow.wait() => break Some((SLOW_CONSUMER, "slow consumer")),
                frame = rx.recv() => match frame {
                    Some(frame) => {
                        if sink.send(Message::text(frame.as_str())).await.is_err() {
                            break None;
                        }
                    }
                    None => break None,
                },
            }
        };
        if let Some((code, reason)) = close {
            // Flush what is already queued (an error frame before a 1009, say), then close.
            if code != SLOW_CONSUMER {
                while let Ok(frame) = rx.try_recv() {
                    if sink.feed(Message::text(frame.as_str())).await.is_err() {
                        break;
                    }
                }
            }
            let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
    });

    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = stopped.changed() => {
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
