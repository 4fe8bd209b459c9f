//! Per-server limits (docs/protocol.md section 7), sent to clients in `hello` and enforced by
//! the engine and the adapters.
//!
//! Every resource a client can make the server hold has a bound here: memory (frames, queued
//! bytes, what its subscriptions keep), database work (live queries and their refreshes),
//! connections, request rates and idle time. The defaults are meant to be safe on the open
//! internet for an ordinary application; each is documented in docs/protocol.md section 7
//! and in the README's security section.

use std::time::Duration;

/// The limits a server runs with; every field is advertised in `hello` (see
/// [`hello_frame`](crate::protocol::hello_frame)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest inbound frame; a larger one closes the connection with 1009.
    pub max_message_bytes: usize,
    /// The page size of `search` when a binding sets none and the request gives no `limit`.
    pub page_size: u64,
    /// The largest `limit` a `search` may ask for; larger ones are clamped.
    pub max_page_size: u64,
    /// The most rows a `list` returns.
    pub max_list_size: u64,
    /// The most subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// The most items an `__in` filter may list.
    pub max_in_list: usize,
    /// The most bytes of text a request's `filters` (keys and string values, lists included)
    /// and `query` may carry together; more is refused with `invalid_filter`.
    pub max_filter_bytes: usize,
    /// How many `or`/`not` groups may enclose one lookup of a request's `filters`; deeper is
    /// refused with `invalid_filter`. Bounds the recursion of parsing, SQL and every
    /// evaluation of a live query's filter.
    pub max_filter_depth: usize,
    /// How many relations one filter key or `order` key may follow (`task__owner__username`
    /// follows two), and how deep `expand` and `include` may reach (`"task.owner"` is two);
    /// more is refused with `invalid_filter`. Bounds the subqueries a key costs and the reads
    /// (one per relation and level) an expansion costs.
    pub max_relation_depth: usize,
    /// The most rows an `include` returns for each parent row, and its default `limit`; a
    /// larger `limit` is refused with `invalid_filter`.
    pub max_include_rows: u64,
    /// How many frames a connection's outbound queue holds before it counts as a slow consumer.
    pub outbound_queue: usize,
    /// How many bytes of frames a connection's outbound queue holds before it counts as a slow
    /// consumer (a single frame larger than this is still accepted into an empty queue).
    pub outbound_queue_bytes: usize,
    /// The most bytes the live results of one connection's subscriptions may hold (the
    /// snapshots a live `search` or `list` keeps to tell what changed); a subscription that
    /// would pass it is refused with `limit_exceeded`.
    pub max_subscription_bytes: usize,
    /// The most distinct live queries (live `search` and `list` subscriptions) one connection
    /// may hold; each costs a store read whenever a change may touch it.
    pub max_live_queries: usize,
    /// The most distinct live queries all of one user's connections may hold together.
    pub max_live_queries_per_user: usize,
    /// How many live-query refreshes the engine runs at once, server-wide; the rest wait, so
    /// live queries can never take every store connection from ordinary requests.
    pub refresh_concurrency: usize,
    /// The most open connections (WebSocket and HTTP keep-alive) the server accepts; past it a
    /// handshake is answered with HTTP 503.
    pub max_connections: usize,
    /// The most open WebSocket connections of one user (of one address, for anonymous
    /// clients); past it a handshake is answered with HTTP 503.
    pub max_connections_per_user: usize,
    /// Requests per second one connection may send, sustained (a token bucket); past it a
    /// request is answered with `rate_limited` (HTTP 429 with `Retry-After`). 0 turns the
    /// per-connection limit off.
    pub requests_per_second: u32,
    /// How many requests one connection may send at once before `requests_per_second` applies.
    pub request_burst: u32,
    /// Requests per second all of one user's connections may send together (of one address,
    /// for anonymous clients), with a burst of twice that (at least `request_burst`). 0 turns
    /// the per-user limit off.
    pub user_requests_per_second: u32,
    /// How often the server pings an open WebSocket.
    pub ping_interval: Duration,
    /// How long a WebSocket may stay silent (no frame, no pong) before the server closes it
    /// with 4000 (idle).
    pub idle_timeout: Duration,
    /// How long the answer to a write that carried a `request_id` is remembered, from when
    /// the write arrived: the same id again within it gets that answer instead of writing
    /// twice (docs/protocol.md section 2, "Request ids"). Zero remembers none, as does a zero
    /// `max_request_ids` or `max_request_ids_per_user`.
    pub request_id_window: Duration,
    /// The most request ids the server remembers, all owners together; past it the oldest is
    /// forgotten.
    pub max_request_ids: usize,
    /// The most request ids remembered for one user (one address, for anonymous clients);
    /// past it their oldest is forgotten.
    pub max_request_ids_per_user: usize,
    /// The most bytes of answers the remembered request ids may hold together; past it the
    /// oldest are forgotten.
    pub max_request_id_bytes: usize,
    /// The longest `request_id`, in characters; a longer one is `bad_request`.
    pub max_request_id_length: usize,
    /// The most steps one `batch` may carry (docs/protocol.md section 2, "Batches"); more is
    /// refused with `limit_exceeded`, nothing written. Bounds how long one transaction holds
    /// its rows' locks and a store connection.
    pub max_batch_steps: usize,
    /// How long before a connection's credential expires ([`User::expires_at`]) the server
    /// pushes `auth.expiring` (docs/protocol.md section 4); half the credential's remaining
    /// lifetime when that is shorter. Zero sends no warning (the close 4001 still comes).
    ///
    /// [`User::expires_at`]: crate::auth::User::expires_at
    pub auth_expiry_warning: Duration,
    /// The longest token an `auth.refresh` may carry, in bytes; a longer one is
    /// `bad_request`, never handed to an authenticator.
    pub max_token_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 1024 * 1024,
            page_size: 25,
            max_page_size: 100,
            max_list_size: 1000,
            max_subscriptions: 1000,
            max_in_list: 1000,
            max_filter_bytes: 64 * 1024,
            max_filter_depth: 4,
            max_relation_depth: 2,
            max_include_rows: 20,
            outbound_queue: 1024,
            outbound_queue_bytes: 16 * 1024 * 1024,
            max_subscription_bytes: 32 * 1024 * 1024,
            max_live_queries: 200,
            max_live_queries_per_user: 1000,
            refresh_concurrency: 4,
            max_connections: 10_000,
            max_connections_per_user: 64,
            requests_per_second: 200,
            request_burst: 400,
            user_requests_per_second: 1000,
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            request_id_window: Duration::from_secs(10 * 60),
            max_request_ids: 100_000,
            max_request_ids_per_user: 1000,
            max_request_id_bytes: 32 * 1024 * 1024,
            max_request_id_length: 64,
            max_batch_steps: 100,
            auth_expiry_warning: Duration::from_secs(60),
            max_token_bytes: 8 * 1024,
        }
    }
}
