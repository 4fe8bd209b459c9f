//! Per-server limits, sent to clients in `hello` and enforced by the session.

/// The limits of PROTOCOL.md section 1, with their documented defaults.
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
    /// How many frames a connection's outbound queue holds before it counts as a slow consumer.
    pub outbound_queue: usize,
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
            outbound_queue: 1024,
        }
    }
}
