//! The channel layer: how group sends, broadcasts and sends to one user reach the connections
//! of other server processes (nodes) that share a database.
//!
//! The engine delivers every such message to its own connections at once, then hands it to
//! its [`Layer`], which carries it to the other nodes; each of them delivers it to its own
//! connections through [`Engine::deliver_remote`](crate::Engine::deliver_remote) and never passes it on again. The default
//! layer, [`InProcess`], carries nothing: one process, today's behaviour. The PostgreSQL layers
//! of the adapters carry messages as `NOTIFY` payloads on [`CHANNEL`], encoded here by
//! [`encode`] and read back by [`decode`].
//!
//! Rows changed through a node's API travel as [`LayerMessage::Changes`] (keys only); the
//! other nodes read them and publish, as they do for the capture triggers' notifications
//! ([`crate::capture`]) of writes made by anything else.

use crate::key::Key;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `NOTIFY` channel PostgreSQL layers send on and listen to.
pub const CHANNEL: &str = "chanbind_layer";

/// Sends a batch of payloads (`$2`, a `text[]`) on the channel `$1` in one statement, in
/// order: one round trip and one transaction, so PostgreSQL's notification lock is taken once
/// per batch. `pg_notify` is volatile, so it runs after the sort, in array order.
pub const NOTIFY_BATCH: &str =
    "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n";

/// The largest payload PostgreSQL's `NOTIFY` takes: it must be shorter than 8000 bytes.
pub const MAX_PAYLOAD: usize = 7999;

/// A message for the connections of every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerMessage {
    /// `<stream>.<event>` to every connection in the stream's group.
    Group {
        /// The stream.
        stream: String,
        /// The event.
        event: String,
        /// The data.
        data: Value,
    },
    /// `<stream>.<event>` to every connection.
    Broadcast {
        /// The stream.
        stream: String,
        /// The event.
        event: String,
        /// The data.
        data: Value,
    },
    /// Rows changed through a node's API. Other nodes read each row and publish it, as they
    /// do for the capture triggers' notifications, which skip chanbind's own writes: a
    /// `NOTIFY` inside a write's transaction serializes every such commit on PostgreSQL's
    /// notification lock, while the layer sends these from its own connection, batched.
    Changes {
        /// The rows, in commit order.
        rows: Vec<ChangedRow>,
    },
    /// Close every WebSocket of one user with 4003
    /// ([`Engine::disconnect_user`](crate::Engine::disconnect_user)).
    DisconnectUser {
        /// The user's id.
        user_id: i64,
    },
    /// Re-check every WebSocket of one user against the user as the application sees them now
    /// ([`Engine::recheck_user`](crate::Engine::recheck_user)).
    RecheckUser {
        /// The user.
        user: RemoteUser,
    },
    /// `<stream>.<event>` to every connection of one user.
    User {
        /// The user's id.
        user_id: i64,
        /// The stream.
        stream: String,
        /// The event.
        event: String,
        /// The data.
        data: Value,
    },
}

/// A [`User`](crate::auth::User) as it travels between nodes: its claims included, its
/// expiry in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteUser {
    /// The user's id.
    pub id: i64,
    /// The user's name.
    pub name: String,
    /// The user's claims.
    #[serde(default)]
    pub claims: serde_json::Map<String, Value>,
    /// When the user's credential expires, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

impl From<&crate::auth::User> for RemoteUser {
    fn from(user: &crate::auth::User) -> Self {
        RemoteUser {
            id: user.id,
            name: user.name.clone(),
            claims: user.claims.clone(),
            expires_at_ms: user.expires_at.map(|at| {
                let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            }),
        }
    }
}

impl From<RemoteUser> for crate::auth::User {
    fn from(user: RemoteUser) -> Self {
        crate::auth::User {
            id: user.id,
            name: user.name,
            claims: user.claims,
            expires_at: user
                .expires_at_ms
                .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        }
    }
}

/// A row a node changed through its API, for the other nodes to read and publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedRow {
    /// The table.
    pub table: String,
    /// The table's schema, when its binding names one (else the nodes' own first schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The row's primary key.
    pub pk: Key,
    /// The row was inserted (a feed shows it as `created`).
    pub created: bool,
}

/// Carries messages this node delivered locally to the other nodes.
pub trait Layer: Send + Sync + 'static {
    /// Sends `message` to the other nodes. Called on any thread, async or blocking, so it
    /// must not block: queue the work. Failures are the layer's to log.
    fn publish(&self, message: &LayerMessage);

    /// A short name for logs (`in-process`, `postgres`).
    fn kind(&self) -> &'static str;

    /// Whether the layer reaches other nodes; the engine builds no messages for one that
    /// does not.
    fn is_remote(&self) -> bool {
        true
    }
}

/// The default layer: one process, nothing to carry.
#[derive(Debug, Default, Clone, Copy)]
pub struct InProcess;

impl Layer for InProcess {
    fn publish(&self, _message: &LayerMessage) {}

    fn kind(&self) -> &'static str {
        "in-process"
    }

    fn is_remote(&self) -> bool {
        false
    }
}

/// A message with where it comes from, as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node's id; a node skips its own messages (it delivered them already).
    pub node: String,
    /// The cluster the message belongs to (the PostgreSQL schema, or empty): nodes of other
    /// clusters sharing the database ignore it.
    pub namespace: String,
    /// The sender's count of messages: PostgreSQL folds identical payloads sent in one
    /// transaction into one, and two equal broadcasts must stay two.
    #[serde(default)]
    pub seq: u64,
    /// When the sender encoded it, in milliseconds since the Unix epoch: receivers observe
    /// the layer's lag from it (`chanbind_layer_lag_seconds`). Absent from older senders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ms: Option<u64>,
    /// The message.
    pub message: LayerMessage,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why a message cannot travel, or a payload is not one.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The encoded message exceeds [`MAX_PAYLOAD`]; it is refused rather than split, since a
    /// split message could arrive in part on a node whose listener reconnected meanwhile.
    #[error("layer message of {0} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    /// The payload is not an [`Envelope`].
    #[error("malformed layer message: {0}")]
    Malformed(String),
}

/// The payload of `envelope`, refused when PostgreSQL would refuse it.
pub fn encode(envelope: &Envelope) -> Result<String, LayerError> {
    let text = serde_json::to_string(envelope).map_err(|e| LayerError::Malformed(e.to_string()))?;
    if text.len() > MAX_PAYLOAD {
        return Err(LayerError::TooLarge(text.len()));
    }
    Ok(text)
}

/// Reads a payload back.
pub fn decode(payload: &str) -> Result<Envelope, LayerError> {
    serde_json::from_str(payload).map_err(|e| LayerError::Malformed(e.to_string()))
}

/// How many messages a node's PostgreSQL layer holds for sending. When the database falls
/// that far behind, new messages are dropped rather than held without bound, and the other
/// nodes are made to refresh ([`Overflow`]).
pub const QUEUE: usize = 65_536;

/// Whether messages were dropped because the sending queue was full. The sending task then
/// skips a number, so every receiver sees a gap and refreshes its subscriptions ([`Heard`]):
/// changed rows are caught up; dropped group sends and broadcasts are lost, as logged.
#[derive(Debug, Default)]
pub struct Overflow(AtomicBool);

impl Overflow {
    /// A publisher's message found the queue full and was dropped.
    pub fn dropped(&self) {
        if !self.0.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                capacity = QUEUE,
                "layer queue full: messages dropped; the other nodes will refresh"
            );
        }
    }
}

/// Numbers and encodes one node's messages in the order they go out, for its one sending task:
/// numbers given out anywhere else could go out of order when two threads publish at once,
/// and a receiver would take the gap for a lost message ([`Heard`]).
#[derive(Debug)]
pub struct Outgoing {
    node: String,
    namespace: String,
    seq: u64,
    overflow: Arc<Overflow>,
}

impl Outgoing {
    /// The messages of `node` in the cluster `namespace`; publishers report dropped ones to
    /// `overflow`.
    pub fn new(
        node: impl Into<String>,
        namespace: impl Into<String>,
        overflow: Arc<Overflow>,
    ) -> Outgoing {
        Outgoing {
            node: node.into(),
            namespace: namespace.into(),
            seq: 0,
            overflow,
        }
    }

    /// The payload of the next message. One too large to travel is logged and replaced by an
    /// empty one under the same number, so that receivers see no gap; after dropped messages,
    /// a number is skipped, so that they do.
    pub fn payload(&mut self, message: LayerMessage) -> String {
        if self.overflow.0.swap(false, Ordering::AcqRel) {
            self.seq += 1;
        }
        self.seq += 1;
        let mut envelope = Envelope {
            node: self.node.clone(),
            namespace: self.namespace.clone(),
            seq: self.seq,
            sent_ms: Some(now_ms()),
            message,
        };
        match encode(&envelope) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "layer message not sent to other nodes");
                envelope.message = LayerMessage::Changes { rows: Vec::new() };
                // An empty message is small whatever the ids; serde cannot fail on it.
                serde_json::to_string(&envelope).unwrap_or_default()
            }
        }
    }
}

/// What a listener has heard from each node: the last message's number, so that a message
/// that never arrived is noticed. Its sender could not send it (the database refused twice),
/// and it may have told of changed rows; only a refresh brings this node's subscribers up to
/// date then. Make a new one for each listening connection: a listener that reconnects
/// refreshes anyway.
#[derive(Debug, Default)]
pub struct Heard {
    last: HashMap<String, u64>,
}

impl Heard {
    /// Records message `seq` of `node`; whether messages of it were missed since the last.
    pub fn missed(&mut self, node: &str, seq: u64) -> bool {
        match self.last.get_mut(node) {
            Some(last) => {
                // A lower number: the batch was sent again, or the count started over.
                let missed = seq > last.saturating_add(1);
                *last = seq;
                missed
            }
            None => {
                self.last.insert(node.to_owned(), seq);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dropped_messages_leave_a_gap() {
        let overflow = Arc::new(Overflow::default());
        let mut out = Outgoing::new("a", "s", Arc::clone(&overflow));
        let empty = || LayerMessage::Changes { rows: Vec::new() };
        let mut heard = Heard::default();
        let mut next = |out: &mut Outgoing| {
            let envelope = decode(&out.payload(empty())).unwrap();
            heard.missed(&envelope.node, envelope.seq)
        };
        assert!(!next(&mut out));
        overflow.dropped();
        overflow.dropped();
        assert!(next(&mut out), "the receiver sees the gap");
        assert!(!next(&mut out), "once");
    }

    #[test]
    fn outgoing_messages_are_numbered_and_a_huge_one_leaves_an_empty_one() {
        let mut out = Outgoing::new("a", "s", Arc::default());
        let first = decode(&out.payload(LayerMessage::Changes { rows: Vec::new() })).unwrap();
        let huge = LayerMessage::Broadcast {
            stream: "x".into(),
            event: "y".into(),
            data: json!("z".repeat(9000)),
        };
        let second = decode(&out.payload(huge)).unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(second.message, LayerMessage::Changes { rows: Vec::new() });
        assert_eq!(
            (second.node.as_str(), second.namespace.as_str()),
            ("a", "s")
        );
    }

    #[test]
    fn a_gap_in_a_nodes_numbers_is_a_lost_message() {
        let mut heard = Heard::default();
        assert!(!heard.missed("a", 7), "the first heard of a node");
        assert!(!heard.missed("a", 8));
        assert!(!heard.missed("b", 0), "nodes are counted apart");
        assert!(heard.missed("a", 10), "9 never came");
        assert!(!heard.missed("a", 11));
        assert!(!heard.missed("a", 3), "counting started over");
        assert!(!heard.missed("a", 4));
        assert!(!heard.missed("a", 4), "a batch sent again");
    }

    #[test]
    fn a_user_travels_with_its_claims_and_expiry() {
        let user = crate::auth::User::new(3, "ann")
            .with_claim("staff", true)
            .expiring_at(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1234));
        let message = LayerMessage::RecheckUser {
            user: RemoteUser::from(&user),
        };
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.contains(r#""kind":"recheck_user""#), "{text}");
        let LayerMessage::RecheckUser { user: back } = serde_json::from_str(&text).unwrap() else {
            panic!("{text}");
        };
        assert_eq!(crate::auth::User::from(back), user);
    }

    #[test]
    fn envelopes_round_trip_and_large_ones_are_refused() {
        let envelope = Envelope {
            node: "a".into(),
            namespace: "s".into(),
            seq: 1,
            sent_ms: Some(1),
            message: LayerMessage::User {
                user_id: 3,
                stream: "x".into(),
                event: "y".into(),
                data: json!({"k": 1}),
            },
        };
        let text = encode(&envelope).unwrap();
        assert!(text.contains(r#""kind":"user""#), "{text}");
        assert_eq!(decode(&text).unwrap(), envelope);
        let big = Envelope {
            message: LayerMessage::Broadcast {
                stream: "x".into(),
                event: "y".into(),
                data: json!("a".repeat(8000)),
            },
            ..envelope
        };
        assert!(matches!(encode(&big), Err(LayerError::TooLarge(_))));
        assert!(decode("{").is_err());
    }
}
