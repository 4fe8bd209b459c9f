//! The PostgreSQL channel layer of the tokio adapter: group sends, broadcasts and sends to a
//! user travel to the other nodes of the database as `NOTIFY` payloads on
//! [`layer::CHANNEL`]; each node's capture listener ([`super::CaptureListener`]) hears them.
//!
//! Messages go out in order from one task, on connections of the store's pool. Messages over
//! [`layer::MAX_PAYLOAD`] bytes are refused with a logged error (they still reach this node's
//! own connections): splitting them would let a node that reconnects mid-message deliver half.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chanbind_engine::layer::{self, Envelope, Layer, LayerMessage};
use deadpool_postgres::Pool;
use tokio::sync::mpsc;

use super::PgStore;

/// The cluster name of a store's layer messages: its schema, or empty.
pub(super) fn namespace(schema: Option<&str>) -> String {
    schema.unwrap_or_default().to_owned()
}

/// A [`Layer`] over PostgreSQL `NOTIFY`. Cheap to share; dropping the last handle ends its
/// sending task.
#[derive(Debug)]
pub struct PgLayer {
    node: String,
    namespace: String,
    seq: AtomicU64,
    queue: mpsc::UnboundedSender<String>,
}

impl Layer for PgLayer {
    fn publish(&self, message: &LayerMessage) {
        let envelope = Envelope {
            node: self.node.clone(),
            namespace: self.namespace.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            message: message.clone(),
        };
        match layer::encode(&envelope) {
            Ok(payload) => {
                let _ = self.queue.send(payload);
            }
            Err(e) => tracing::error!(error = %e, "layer message not sent to other nodes"),
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
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(send(self.pool.clone(), rx));
        Arc::new(PgLayer {
            node: self.origin.clone(),
            seq: AtomicU64::new(0),
            namespace: namespace(self.schema.as_deref()),
            queue,
        })
    }
}

/// At most this many messages go out in one statement.
const BATCH: usize = 256;

/// Sends the queued messages in order, each time all that queued meanwhile in one statement.
/// A failed batch is tried once more on another connection: after PostgreSQL restarts, the
/// pool may still hold a connection that died with it, and losing the first message after a
/// restart would leave the other nodes' subscribers stale (their listeners have already
/// refreshed).
async fn send(pool: Pool, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(first) = rx.recv().await {
        let mut payloads = vec![first];
        while payloads.len() < BATCH {
            let Ok(payload) = rx.try_recv() else { break };
            payloads.push(payload);
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
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let statement = client
        .prepare_cached(layer::NOTIFY_BATCH)
        .await
        .map_err(|e| e.to_string())?;
    client
        .execute(&statement, &[&layer::CHANNEL, &payloads])
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
