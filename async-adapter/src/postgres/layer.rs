//! The PostgreSQL channel layer of the tokio adapter: group sends, broadcasts and sends to a
//! user travel to the other nodes of the database as `NOTIFY` payloads on
//! [`layer::CHANNEL`]; each node's capture listener ([`super::CaptureListener`]) hears them.
//!
//! Messages go out in order from one task, on connections of the store's pool, from a queue of
//! [`layer::QUEUE`] (when it is full, new ones are dropped and the other nodes refresh, see
//! [`Overflow`]). Messages over [`layer::MAX_PAYLOAD`] bytes are refused with a logged error
//! (they still reach this node's own connections): splitting them would let a node that
//! reconnects mid-message deliver half.

use std::sync::Arc;

use chanbind_engine::layer::{self, Layer, LayerMessage, Outgoing, Overflow};
use tokio::sync::mpsc;

use super::pool::Pool;
use super::PgStore;

/// The cluster name of a store's layer messages: its schema, or empty.
pub(super) fn namespace(schema: Option<&str>) -> String {
    schema.unwrap_or_default().to_owned()
}

/// A [`Layer`] over PostgreSQL `NOTIFY`. Cheap to share; dropping the last handle ends its
/// sending task.
#[derive(Debug)]
pub struct PgLayer {
    queue: mpsc::Sender<LayerMessage>,
    overflow: Arc<Overflow>,
}

impl Layer for PgLayer {
    fn publish(&self, message: &LayerMessage) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(message.clone()) {
            self.overflow.dropped();
        }
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

impl PgStore {
    /// A channel layer on this store's database, for
    /// [`EngineBuilder::layer`](chanbind_engine::EngineBuilder::layer). Messages are delivered on the other nodes by
    /// their [`listen`](Self::listen)ers; the node id is this store's [`origin`](Self::origin).
    /// Starts a task on the current tokio runtime.
    pub fn layer(&self) -> Arc<PgLayer> {
        let (queue, rx) = mpsc::channel(layer::QUEUE);
        let overflow = Arc::new(Overflow::default());
        let outgoing = Outgoing::new(
            self.origin.clone(),
            namespace(self.schema.as_deref()),
            Arc::clone(&overflow),
        );
        tokio::spawn(send(self.pool.clone(), outgoing, rx));
        Arc::new(PgLayer { queue, overflow })
    }
}

/// At most this many messages go out in one statement.
const BATCH: usize = 256;

/// Sends the queued messages in order, each time all that queued meanwhile in one statement.
/// A failed batch is tried once more on another connection: after PostgreSQL restarts, the
/// pool may still hold a connection that died with it, and losing the first message after a
/// restart would leave the other nodes' subscribers stale (their listeners have already
/// refreshed).
async fn send(pool: Pool, mut outgoing: Outgoing, mut rx: mpsc::Receiver<LayerMessage>) {
    while let Some(first) = rx.recv().await {
        let mut payloads = vec![outgoing.payload(first)];
        while payloads.len() < BATCH {
            let Ok(message) = rx.try_recv() else { break };
            payloads.push(outgoing.payload(message));
        }
        let result = match notify(&pool, &payloads).await {
            Err(e) => {
                tracing::debug!(error = %e, "layer send failed; trying again");
                notify(&pool, &payloads).await
            }
            ok => ok,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, lost = payloads.len(), "layer messages lost: cannot notify the other nodes");
        }
    }
}

async fn notify(pool: &Pool, payloads: &[String]) -> Result<(), String> {
    let conn = pool.get().await.map_err(|e| e.to_string())?;
    let statement = conn
        .client
        .prepare_cached(layer::NOTIFY_BATCH)
        .await
        .map_err(|e| e.to_string())?;
    conn.client
        .execute(&statement, &[&layer::CHANNEL, &payloads])
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
