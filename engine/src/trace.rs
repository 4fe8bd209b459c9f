//! The `tracing` spans chanbind opens, so that a subscriber in the host application (an
//! OpenTelemetry layer, a JSON log) sees one trace per request: which connection it came on,
//! which stores calls it made and what its write pushed to subscribers.
//!
//! | span | level | fields |
//! |---|---|---|
//! | `connection` | INFO | `adapter`, `peer`, `conn_id`, `user_id`, `close_code`, `close_reason` |
//! | `request` | INFO | `stream`, `action`, `hash`, `user_id`, `outcome`, `duration_ms`, `rows`, `method`, `route` |
//! | `store.get`, `store.search`, `store.related`, `store.insert`, `store.update`, `store.delete`, `store.upsert`, `store.matches` | DEBUG | `store`, `table`, `op`, `transaction` |
//! | `fanout` | DEBUG | `stream`, `subscribers`, `pushes`, `queries_touched` |
//! | `refresh` | DEBUG | `stream` |
//!
//! A WebSocket's requests are children of its `connection`; an HTTP request's `request` has
//! no connection span and carries `method` and `route`. `outcome` is `ok` or the error code
//! the client got (docs/protocol.md section 5). A write's `fanout` is a child of the write's
//! `request`, so the pushes it caused show up in the same trace; a live query the change
//! touched is re-read in a `refresh` span that follows from the fan-out.
//!
//! Levels: a connection and a request are what an operator traces, one span each per unit
//! of client work, so they are INFO. A request makes several store calls and every change
//! a fan-out: those are DEBUG, so that a subscriber at INFO pays nothing for them. When no
//! subscriber wants a span, creating it is a check of tracing's callsite cache, and the
//! late fields are not computed.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::field::Empty;
use tracing::Span;

use crate::auth::User;
use crate::protocol::ApiError;
use crate::store::StoreOp;

/// The span of one WebSocket connection, made by an adapter when the connection starts.
/// `adapter` is `async` or `sync`. Record its session with [`record_session`] and its end
/// with [`record_close`].
pub fn connection_span(adapter: &'static str, peer: Option<SocketAddr>) -> Span {
    let span = tracing::info_span!(
        "connection",
        adapter,
        peer = Empty,
        conn_id = Empty,
        user_id = Empty,
        close_code = Empty,
        close_reason = Empty,
    );
    if let Some(peer) = peer {
        span.record("peer", tracing::field::display(peer));
    }
    span
}

/// Records the connection's id and, once it is authenticated, its user on `span`.
pub fn record_session(span: &Span, conn_id: crate::outbound::ConnId, user: Option<&User>) {
    span.record("conn_id", conn_id);
    if let Some(user) = user {
        span.record("user_id", user.id);
    }
}

/// Records how the connection ended: the close code the server sent and its reason, or, when
/// `code` is `None`, that the client closed or the socket failed.
pub fn record_close(span: &Span, code: Option<u16>) {
    match code {
        Some(code) => {
            span.record("close_code", code);
            span.record("close_reason", crate::protocol::close::reason(code));
        }
        None => {
            span.record("close_reason", "closed by the client");
        }
    }
}

/// One request's span and its clock: made once, by the session, for every transport.
/// Dropping it records the request's duration, however the request ended.
#[derive(Debug)]
pub(crate) struct RequestTrace {
    span: Span,
    /// `None` when no subscriber wants the span: the clock is not read either.
    start: Option<Instant>,
}

impl RequestTrace {
    /// Opens the span of a request; its event and user are recorded once known.
    pub(crate) fn new() -> Self {
        let span = tracing::info_span!(
            "request",
            stream = Empty,
            action = Empty,
            hash = Empty,
            user_id = Empty,
            outcome = Empty,
            duration_ms = Empty,
            rows = Empty,
            method = Empty,
            route = Empty,
        );
        let start = (!span.is_disabled()).then(Instant::now);
        RequestTrace { span, start }
    }

    /// The span, to enter or to instrument the request's job with.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Records the request's event and its user.
    pub(crate) fn event(&self, event: &crate::protocol::EventName, user: Option<&User>) {
        if self.span.is_disabled() {
            return;
        }
        self.span.record("stream", event.stream());
        self.span.record("action", event.action());
        if let Some(hash) = event.hash() {
            self.span.record("hash", hash);
        }
        if let Some(user) = user {
            self.span.record("user_id", user.id);
        }
    }

    /// Records the HTTP method and route of a request that came over HTTP.
    pub(crate) fn http(&self, method: &str, route: &str) {
        self.span.record("method", method);
        self.span.record("route", route);
    }
}

impl Drop for RequestTrace {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            self.span.record("duration_ms", ms);
        }
    }
}

/// Records a request's outcome on `span`: `ok`, or the code of the error the client got.
pub(crate) fn record_outcome_on(span: &Span, error: Option<&ApiError>) {
    match error {
        None => span.record("outcome", "ok"),
        Some(error) => span.record("outcome", error.code.as_str()),
    };
}

/// Records the outcome of the request whose job is running: its reply is queued from inside
/// the job, where the request's span is the current one (the job is instrumented with it).
pub(crate) fn record_outcome<T>(result: &Result<T, ApiError>) {
    record_outcome_on(&Span::current(), result.as_ref().err());
}

/// Records how many rows the running request returned or wrote.
pub(crate) fn record_rows(rows: usize) {
    Span::current().record("rows", rows);
}

/// The span of one store call: `store` is the store's [`kind`](crate::store::Store::kind),
/// `transaction` whether it runs inside a batch's transaction. Its name says the op.
pub fn store_span(op: &StoreOp, store: &'static str, transaction: bool) -> Span {
    macro_rules! span {
        ($name:literal, $op:literal) => {
            tracing::debug_span!(
                $name,
                store,
                table = op.binding().table(),
                op = $op,
                transaction
            )
        };
    }
    match op {
        StoreOp::Get { .. } => span!("store.get", "get"),
        StoreOp::Search { .. } => span!("store.search", "search"),
        StoreOp::Related { .. } => span!("store.related", "related"),
        StoreOp::Insert { .. } => span!("store.insert", "insert"),
        StoreOp::Update { .. } => span!("store.update", "update"),
        StoreOp::Delete { .. } => span!("store.delete", "delete"),
        StoreOp::Upsert(_) => span!("store.upsert", "upsert"),
        StoreOp::Matches { .. } => span!("store.matches", "matches"),
    }
}

/// The span of one live query's re-read, linked (follows-from) to the span it was scheduled
/// in: the fan-out of the change that touched the query. Not a child: one re-read may answer
/// several changes, and it runs in a task of its own, after the fan-out.
pub(crate) fn refresh_span(stream: &str) -> Span {
    let span = tracing::debug_span!(parent: None, "refresh", stream);
    span.follows_from(Span::current());
    span
}

/// The span of one change's fan-out in its stream's actor, a child of `cause`: the span that
/// was current where the change was published (a write's request), or none for a change
/// captured from the database or heard from another node. `subscribers` and `pushes` are
/// recorded once the change is applied.
pub(crate) fn fanout_span(cause: &Span, stream: &str) -> Span {
    tracing::debug_span!(
        parent: cause,
        "fanout",
        stream,
        subscribers = Empty,
        pushes = Empty,
        queries_touched = Empty
    )
}
