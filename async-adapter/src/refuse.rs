//! Connections past `max_connections`: each gets one HTTP 503 and is closed, so a client
//! learns why instead of seeing a reset, without a place of its own under the limit. A
//! health probe (`/healthz`, `/readyz`) gets its own answer instead: a full server is
//! still alive, and a load balancer must not take it out for being busy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use chanbind_engine::auth::Refusal;
use chanbind_engine::http as api;
use hyper::header::{HeaderValue, CONNECTION, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::service::{full, ChanbindService};

/// How long a refused connection has to send its request head.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers the connection's first request with `refusal` (503) and closes it, on a task of
/// its own; drops it at once when too many are already being refused (the engine's
/// `MAX_REFUSING`).
pub(crate) fn spawn(
    socket: TcpStream,
    peer: SocketAddr,
    refusal: Refusal,
    service: &ChanbindService,
) {
    let Some(permit) = service.engine().admit_refusal() else {
        return;
    };
    tracing::debug!(%peer, %refusal, "connection refused");
    let chanbind = service.clone();
    tokio::spawn(async move {
        let service = service_fn(move |request| {
            let chanbind = chanbind.clone();
            async move {
                let mut response = match chanbind.health(request).await {
                    Some(health) => health,
                    None => {
                        let mut response = full(api::refusal(refusal));
                        let retry = HeaderValue::from_static("1");
                        response.headers_mut().insert(RETRY_AFTER, retry);
                        response
                    }
                };
                let close = HeaderValue::from_static("close");
                response.headers_mut().insert(CONNECTION, close);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(REFUSE_TIMEOUT)
            .keep_alive(false)
            .serve_connection(TokioIo::new(socket), service);
        let _ = tokio::time::timeout(REFUSE_TIMEOUT * 2, connection).await;
        drop(permit);
    });
}
