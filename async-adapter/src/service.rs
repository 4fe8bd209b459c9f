//! The edge of one engine as a service: the HTTP API and the WebSocket upgrade, for a host
//! application's router (axum, tower, hyper) or for this crate's own [`serve`](crate::serve).

mod api;
mod locate;
mod sessions;
pub(crate) mod upgrade;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use chanbind_engine::http::edge::{self, Dispatch};
use chanbind_engine::http::{HttpApi, HttpResponse};
use chanbind_engine::Engine;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;

use crate::config::ServerConfig;
use sessions::Sessions;

/// The body of every response the service gives: each is built whole.
pub type ResponseBody = Full<Bytes>;

/// The boxed error a request body's may be turned into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client's address, as a request extension. [`serve`](crate::serve) adds it to every
/// request; a hyper server that calls the service may add it too (with the `axum` feature,
/// axum's `ConnectInfo<SocketAddr>` is read as well). Per-address limits of anonymous
/// clients count by it; without it they do not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The HTTP API and the WebSocket endpoint of one engine, as a `tower::Service` (and a
/// hyper `Service`) of `http::Request<B>` for any body `B` of `Bytes`. Cheap to clone: every
/// clone serves the same engine and shares one shutdown. Build it with [`service`].
///
/// ```no_run
/// # async fn demo(engine: chanbind_engine::Engine) -> std::io::Result<()> {
/// let realtime = chanbind_async::service(engine, Default::default());
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "the host's page" }))
///     .nest_service("/realtime", realtime.clone());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app)
///     // The host's shutdown closes chanbind's WebSockets with 1001 and waits for them.
///     .with_graceful_shutdown(realtime.shutdown_on(async { let _ = tokio::signal::ctrl_c().await; }))
///     .await
/// # }
/// ```
///
/// It answers as [`serve`](crate::serve) does, paths taken below its mount point (see
/// [`ServerConfig::mount_path`]): `/` is the WebSocket endpoint (426 for a plain request,
/// naming the API under the mount: `/realtime/api/`), `/api/...` the HTTP API, with the
/// body limit and `body_read_timeout`, and every WebSocket has the close codes, limits and
/// slow-consumer rule of docs/protocol.md section 7. The host's server owns the connections,
/// so `header_read_timeout` and the head limit of hyper's parser are the host's to set;
/// heads over `max_header_bytes` still get 431 here. Under a host each WebSocket takes a
/// place under the engine's `max_connections` for as long as it is open (503 without one).
///
/// The host decides who the user is with
/// [`ExtensionAuthenticator`](chanbind_engine::auth::ExtensionAuthenticator). When its login
/// is a cookie, a handshake carrying it must also carry an allowed `Origin` (a browser's
/// page of the same host does; a client outside a browser sends it), or it gets 403.
///
/// WebSockets need hyper's upgrades (axum and hyper servers with `with_upgrades` have them);
/// they run on tasks of their own, which [`shutdown`](Self::shutdown) closes with 1001.
#[derive(Clone)]
pub struct ChanbindService {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    api: HttpApi,
    config: ServerConfig,
    /// Set once shutdown begins: `/readyz` answers 503 while the server drains
    /// (`drain_delay`), then `stop` follows.
    draining: AtomicBool,
    /// Set once the drain is over: WebSockets close with 1001, new ones are refused.
    stop: watch::Sender<bool>,
    sessions: Sessions,
}

/// The service of `engine` under `config`: mount it in a router
/// (`axum::Router::nest_service("/realtime", chanbind_async::service(engine, config))`) or
/// call it from a hyper server.
pub fn service(engine: Engine, config: ServerConfig) -> ChanbindService {
    let api = HttpApi::new(engine.clone(), config.http.clone());
    let (stop, _) = watch::channel(false);
    ChanbindService {
        inner: Arc::new(Inner {
            engine,
            api,
            config,
            draining: AtomicBool::new(false),
            stop,
            sessions: Sessions::default(),
        }),
    }
}

impl ChanbindService {
    /// The engine it serves.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The configuration it serves with.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// How many of its WebSockets are open.
    pub fn websockets(&self) -> usize {
        self.inner.sessions.open()
    }

    /// Begins shutdown at once: `/readyz` answers 503 from now on. After `drain_delay`
    /// (at once by default), every WebSocket of this service is closed with 1001 (going
    /// away) and new handshakes are refused with 503; HTTP requests go on being answered.
    /// The future resolves when every WebSocket has ended, or after `shutdown_grace`, when
    /// those left are dropped; with a `drain_delay`, the closing happens as it is awaited.
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        self.begin_drain();
        let delay = self.inner.config.drain_delay;
        // Without a delay the close starts now, as the call says, awaited or not.
        let closing = delay.is_zero().then(|| self.close());
        let service = self.clone();
        async move {
            let closing = match closing {
                Some(closing) => closing,
                None => {
                    tokio::time::sleep(delay).await;
                    service.close()
                }
            };
            closing.await;
        }
    }

    /// Whether shutdown has begun: `/readyz` answers 503.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Starts draining: `/readyz` answers 503, everything else as before.
    pub(crate) fn begin_drain(&self) {
        if !self.inner.draining.swap(true, Ordering::AcqRel) {
            tracing::info!(
                delay = ?self.inner.config.drain_delay,
                "draining: /readyz answers 503 until connections close"
            );
        }
    }

    /// Ends the drain: WebSockets close with 1001, new handshakes are refused; resolves as
    /// [`shutdown`](Self::shutdown) does.
    pub(crate) fn close(&self) -> impl Future<Output = ()> + Send + 'static {
        self.begin_drain();
        self.inner.stop.send_replace(true);
        self.inner
            .sessions
            .close_all(self.inner.config.shutdown_grace)
    }

    /// A receiver of the stop that ends the drain.
    pub(crate) fn stopped(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
    }

    /// The answer to `request` if it asks for a health endpoint (below the mount point):
    /// what a connection past `max_connections` is still answered, so a load balancer's
    /// probes do not fail because the server is full.
    pub(crate) async fn health<B>(&self, request: Request<B>) -> Option<Response<ResponseBody>> {
        let (mut parts, _) = request.into_parts();
        locate::place(&mut parts, &self.inner.config.mount_path);
        let probe = edge::Probe::of(&parts)?;
        let response = probe
            .answer(&self.inner.engine, &parts, self.is_draining())
            .await;
        Some(full(response))
    }

    /// Waits for `signal`, then [`shutdown`](Self::shutdown)s: the future to hand a host
    /// server's graceful shutdown (axum's `with_graceful_shutdown`), so the host stops
    /// accepting once chanbind's WebSockets are closed.
    pub fn shutdown_on<F>(&self, signal: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future + Send + 'static,
    {
        let service = self.clone();
        async move {
            signal.await;
            service.shutdown().await;
        }
    }

    /// Answers one request.
    async fn respond<B>(self, request: Request<B>) -> Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let inner = &self.inner;
        if head_len(&request) > inner.config.head_limit() {
            return head_too_large();
        }
        let (mut parts, body) = request.into_parts();
        let peer = locate::place(&mut parts, &inner.config.mount_path);
        match edge::dispatch_with(&inner.config.server, &inner.engine, &parts) {
            Dispatch::Upgrade(upgrade) => upgrade::accept(inner, upgrade, parts, peer).await,
            Dispatch::Health(probe) => full(
                probe
                    .answer(&inner.engine, &parts, self.is_draining())
                    .await,
            ),
            Dispatch::Api => api::call(inner, parts, body, peer).await,
            Dispatch::Respond(response) => full(response),
        }
    }
}

impl fmt::Debug for ChanbindService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChanbindService")
            .field("config", &self.inner.config)
            .field("websockets", &self.websockets())
            .field("draining", &self.is_draining())
            .field("stopping", &*self.inner.stop.borrow())
            .finish_non_exhaustive()
    }
}

/// The future of one answer.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

impl<B> tower_service::Service<Request<B>> for ChanbindService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let service = self.clone();
        Box::pin(async move { Ok(service.respond(request).await) })
    }
}

impl<B> hyper::service::Service<Request<B>> for ChanbindService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<B>) -> ResponseFuture {
        let service = self.clone();
        Box::pin(async move { Ok(service.respond(request).await) })
    }
}

/// Resolves once `stopped` says stop; never once its sender is gone without saying so.
pub(crate) async fn stopping(stopped: &mut watch::Receiver<bool>) {
    if stopped.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The size of a request head as sent (request line, headers, the empty line), optional
/// whitespace aside. hyper bounds only its read buffer, which can hold more than
/// `max_header_bytes` by the time a head completes; the sync adapter counts the head itself.
fn head_len<B>(request: &Request<B>) -> usize {
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + headers + 2
}

/// What hyper sends for a head it cannot take, as the sync adapter does: 431 alone, then close.
fn head_too_large() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::default());
    *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// The engine's response as hyper's.
pub(crate) fn full(response: HttpResponse) -> Response<ResponseBody> {
    response.map(|body| Full::new(Bytes::from(body)))
}
