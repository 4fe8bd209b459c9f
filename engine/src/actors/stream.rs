//! A stream's actor: it holds the stream's subscriptions and turns each committed change into
//! the pushes PROTOCOL.md section 3 describes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::json;

use crate::binding::ModelBinding;
use crate::change::{Change, ChangeKind};
use crate::outbound::{ConnHandle, ConnId, SubKey};
use crate::protocol::{encode_reply, EventName, Frame};
use crate::session::render_row;

/// Messages to a stream actor.
pub enum StreamMsg {
    /// Registers a `retrieve` subscription of `conn` to the row `key.pk`, under `event`.
    /// A second one with the same key replaces the first.
    Subscribe {
        /// The connection.
        conn: ConnHandle,
        /// The subscription's key (its `pk` is set).
        key: SubKey,
        /// The retrieve event, hash included, pushes are named after.
        event: EventName,
    },
    /// Drops the connection's subscriptions on this stream made under `hash`, or all of them
    /// when `hash` is `None`; answers how many went.
    Unsubscribe {
        /// The connection.
        conn: ConnId,
        /// The hash whose subscriptions go, or `None` for all.
        hash: Option<String>,
        /// Where the count goes.
        reply: RpcReplyPort<usize>,
    },
    /// Drops one subscription (its retrieve found no row).
    Forget {
        /// The connection.
        conn: ConnId,
        /// The subscription.
        key: SubKey,
    },
    /// Drops everything the connection held here (it closed).
    Disconnect(ConnId),
    /// A committed change to one of this stream's rows.
    Change(Arc<Change>),
}

/// The actor; its argument is the stream's binding.
pub struct StreamActor;

struct RowSub {
    conn: ConnHandle,
    key: SubKey,
    event: EventName,
}

/// Subscriptions by row, and the rows each connection watches (for cheap cleanup).
pub struct StreamState {
    binding: Arc<ModelBinding>,
    rows: HashMap<i64, Vec<RowSub>>,
    by_conn: HashMap<ConnId, HashSet<i64>>,
}

impl Actor for StreamActor {
    type Msg = StreamMsg;
    type State = StreamState;
    type Arguments = Arc<ModelBinding>;

    async fn pre_start(
        &self,
        _myself: ActorRef<StreamMsg>,
        binding: Arc<ModelBinding>,
    ) -> Result<StreamState, ActorProcessingErr> {
        Ok(StreamState {
            binding,
            rows: HashMap::new(),
            by_conn: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<StreamMsg>,
        msg: StreamMsg,
        state: &mut StreamState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StreamMsg::Subscribe { conn, key, event } => state.subscribe(conn, key, event),
            StreamMsg::Unsubscribe { conn, hash, reply } => {
                let removed = state.remove(conn, |sub| {
                    hash.is_none() || sub.event.hash() == hash.as_deref()
                });
                let _ = reply.send(removed);
            }
            StreamMsg::Forget { conn, key } => {
                state.remove(conn, |sub| sub.key == key);
            }
            StreamMsg::Disconnect(conn) => {
                state.remove(conn, |_| true);
            }
            StreamMsg::Change(change) => state.apply(&change),
        }
        Ok(())
    }
}

impl StreamState {
    fn subscribe(&mut self, conn: ConnHandle, key: SubKey, event: EventName) {
        let Some(pk) = key.pk else { return };
        let subs = self.rows.entry(pk).or_default();
        subs.retain(|s| !(s.conn.id == conn.id && s.key == key));
        self.by_conn.entry(conn.id).or_default().insert(pk);
        subs.push(RowSub { conn, key, event });
    }

    fn remove(&mut self, conn: ConnId, pick: impl Fn(&RowSub) -> bool) -> usize {
        let Some(pks) = self.by_conn.remove(&conn) else {
            return 0;
        };
        let mut removed = 0;
        let mut kept = HashSet::new();
        for pk in pks {
            let Some(subs) = self.rows.get_mut(&pk) else {
                continue;
            };
            subs.retain(|s| {
                if s.conn.id != conn {
                    return true;
                }
                if pick(s) {
                    s.conn.forget(&s.key);
                    removed += 1;
                    false
                } else {
                    kept.insert(pk);
                    true
                }
            });
            if subs.is_empty() {
                self.rows.remove(&pk);
            }
        }
        if !kept.is_empty() {
            self.by_conn.insert(conn, kept);
        }
        removed
    }

    /// Pushes a change to the row's subscribers. Each distinct event is encoded once and the
    /// same bytes are queued on every connection that wants them.
    fn apply(&mut self, change: &Change) {
        let Some(subs) = self.rows.get_mut(&change.pk) else {
            return;
        };
        let mut frames: HashMap<String, Frame> = HashMap::new();
        let mut gone: Vec<ConnId> = Vec::new();
        let deleted = change.kind == ChangeKind::Deleted;
        for sub in subs.iter() {
            let event = if deleted {
                sub.event.with_action("delete")
            } else {
                sub.event.clone()
            };
            let text = event.to_string();
            let frame = match frames.get(&text) {
                Some(frame) => frame.clone(),
                None => {
                    let frame = match (&change.new, deleted) {
                        (Some(row), false) => encode_reply(&text, &render_row(&self.binding, row)),
                        _ => encode_reply(&text, &json!({"id": change.pk, "deleted": true})),
                    };
                    frames.insert(text, frame.clone());
                    frame
                }
            };
            if !sub.conn.out.send(frame) {
                gone.push(sub.conn.id);
            }
        }
        if deleted {
            // A deleted row has nothing left to watch.
            for sub in self.rows.remove(&change.pk).unwrap_or_default() {
                sub.conn.forget(&sub.key);
                if let Some(pks) = self.by_conn.get_mut(&sub.conn.id) {
                    pks.remove(&change.pk);
                }
            }
        }
        for conn in gone {
            self.remove(conn, |_| true);
        }
    }
}
