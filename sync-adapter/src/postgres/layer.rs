//! The PostgreSQL channel layer of the blocking adapter: group sends, broadcasts and sends to
//! a user travel to the other nodes of the database as `NOTIFY` payloads on
//! [`layer::CHANNEL`]; each node's capture listener ([`super::CaptureListener`]) hears them.
//!
//! Messages go out in order from one thread with a connection of its own, made again after a
//! failure, from a queue of [`layer::QUEUE`] (when it is full, new ones are dropped and the
//! other nodes refresh, see [`Overflow`]). Messages over [`layer::MAX_PAYLOAD`] bytes are
//! refused with a logged error (they still reach this node's own connections): splitting them
//! would let a node that reconnects mid-message deliver half.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use chanbind_engine::layer::{self, Layer, LayerMessage, Outgoing, Overflow};
use postgres::NoTls;

use super::PgStore;

/// A [`Layer`] over PostgreSQL `NOTIFY`. Dropping it ends its sending thread.
#[derive(Debug)]
pub struct PgLayer {
    /// `SyncSender` is `Sync` only on recent toolchains; the lock is uncontended in practice.
    queue: Mutex<mpsc::SyncSender<LayerMessage>>,
    overflow: Arc<Overflow>,
}

impl Layer for PgLayer {
    fn publish(&self, message: &LayerMessage) {
        let sent = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_send(message.clone());
        if let Err(mpsc::TrySendError::Full(_)) = sent {
            self.overflow.dropped();
        }
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

impl PgStore {
    /// A channel layer on this store's database, for
    /// [`EngineBuilder::layer`](chanbind_engine::EngineBuilder::layer). Messages are delivered
    /// on the other nodes by their [`listen`](Self::listen)ers; the node id is this store's
    /// [`origin`](Self::origin). Starts a thread.
    pub fn layer(&self) -> std::io::Result<Arc<PgLayer>> {
        let (queue, rx) = mpsc::sync_channel::<LayerMessage>(layer::QUEUE);
        let config = self.pg.clone();
        let overflow = Arc::new(Overflow::default());
        let outgoing = Outgoing::new(
            self.origin.clone(),
            self.schema.clone().unwrap_or_default(),
            Arc::clone(&overflow),
        );
        std::thread::Builder::new()
            .name("chanbind-layer".into())
            .spawn(move || send(config, outgoing, rx))?;
        Ok(Arc::new(PgLayer {
            queue: Mutex::new(queue),
            overflow,
        }))
    }
}

/// At most this many messages go out in one statement.
const BATCH: usize = 256;

/// The sending thread's connection and its prepared statement.
struct Connection {
    client: postgres::Client,
    statement: postgres::Statement,
}

impl Connection {
    fn open(config: &postgres::Config) -> Result<Connection, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        let statement = client.prepare(layer::NOTIFY_BATCH)?;
        Ok(Connection { client, statement })
    }

    fn notify(&mut self, payloads: &[String]) -> Result<(), postgres::Error> {
        self.client
            .execute(&self.statement, &[&layer::CHANNEL, &payloads])
            .map(drop)
    }
}

/// Sends the queued messages in order, each time all that queued meanwhile in one statement.
/// A failed batch is tried once more on a new connection: a blocking client learns that
/// PostgreSQL restarted only when it next sends, and losing the first message after a restart
/// would leave the other nodes' subscribers stale (their listeners have already refreshed).
fn send(config: postgres::Config, mut outgoing: Outgoing, rx: mpsc::Receiver<LayerMessage>) {
    let mut connection: Option<Connection> = None;
    while let Ok(first) = rx.recv() {
        let mut payloads = vec![outgoing.payload(first)];
        payloads.extend(
            rx.try_iter()
                .take(BATCH - 1)
                .map(|message| outgoing.payload(message)),
        );
        let mut failure = None;
        for _attempt in 0..2 {
            if connection.as_ref().is_none_or(|c| c.client.is_closed()) {
                connection = match Connection::open(&config) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        failure = Some(e);
                        continue;
                    }
                };
            }
            let Some(c) = connection.as_mut() else { break };
            match c.notify(&payloads) {
                Ok(()) => {
                    failure = None;
                    break;
                }
                Err(e) => {
                    failure = Some(e);
                    connection = None;
                }
            }
        }
        if let Some(e) = failure {
            tracing::warn!(error = %e, lost = payloads.len(), "layer messages lost: cannot notify the other nodes");
        }
    }
}
