//! The capture listener of the tokio adapter: one dedicated tokio-postgres connection that
//! `LISTEN`s on [`CHANNEL`] and publishes what other writers changed, and on the channel
//! layer's [`layer::CHANNEL`] and delivers what other nodes sent (see [`super::PgLayer`]).
//!
//! Notifications that arrive while the rows of the previous ones are being read pile up and
//! are read as one coalesced [`Batch`], so a bulk update costs one read per row, once. When
//! the connection drops (PostgreSQL restarted), the listener reconnects with backoff and, once
//! listening again, asks the engine to refresh every live subscription
//! ([`Engine::refresh_all`]), since notifications sent while it was away are lost.

use std::time::Duration;

use chanbind_engine::capture::Batch;
use chanbind_engine::health::{Hears, ListenerHealth};
use chanbind_engine::layer;
use chanbind_engine::sql::capture::CHANNEL;
use chanbind_engine::Engine;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::PgStore;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A running capture listener. Dropping it stops the listener.
#[derive(Debug)]
pub struct CaptureListener {
    task: JoinHandle<()>,
    /// How many times the listener has started listening (1 after the first connection).
    listening: watch::Receiver<u64>,
}

impl CaptureListener {
    /// Waits until the listener has started listening at least `times` times in all (1: the
    /// first connection; 2: after the first reconnection), or until `timeout`. Returns whether
    /// it got there. For tests and start-up: writes made before listening are not captured.
    pub async fn wait_listening(&self, times: u64, timeout: Duration) -> bool {
        let mut rx = self.listening.clone();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n >= times))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Stops the listener.
    pub fn stop(self) {}
}

impl Drop for CaptureListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PgStore {
    /// Starts this node's capture listener on the current tokio runtime: changes other
    /// writers make to the tables of `engine`'s bindings, in this store's schema, are read
    /// through `engine`'s store and published. Writes made through
    /// chanbind reach the other nodes through the channel layer ([`PgStore::layer`]), not
    /// the triggers. The triggers come from
    /// [`install_capture`](Self::install_capture).
    pub fn listen(&self, engine: Engine) -> CaptureListener {
        let (tx, listening) = watch::channel(0);
        let config = self.pg.clone();
        let origin = self.origin.clone();
        let schema = self.schema.clone();
        // `/readyz` counts this connection for the capture and the layer checks alike: it
        // hears both channels.
        let health = engine.listener_health(Hears {
            capture: true,
            layer: true,
        });
        let task = tokio::spawn(run(config, origin, schema, engine, tx, health));
        CaptureListener { task, listening }
    }
}

async fn run(
    config: tokio_postgres::Config,
    origin: String,
    schema: Option<String>,
    engine: Engine,
    listening: watch::Sender<u64>,
    health: ListenerHealth,
) {
    let mut backoff = MIN_BACKOFF;
    let config_schema = schema.clone();
    let mut schema = schema;
    loop {
        match listen_once(
            &config,
            &origin,
            config_schema.as_deref(),
            &mut schema,
            &engine,
            &listening,
            &health,
        )
        .await
        {
            Ok(()) => {
                tracing::warn!("capture listener lost its connection; reconnecting");
                backoff = MIN_BACKOFF;
            }
            Err(e) => tracing::warn!(error = %e, ?backoff, "capture listener cannot connect"),
        }
        health.disconnected();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects, listens, and publishes until the connection ends (`Ok`) or fails to start.
async fn listen_once(
    config: &tokio_postgres::Config,
    origin: &str,
    config_schema: Option<&str>,
    schema: &mut Option<String>,
    engine: &Engine,
    listening: &watch::Sender<u64>,
    health: &ListenerHealth,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(bool, String)>();
    // The connection future is where notifications surface; it ends when the socket does,
    // and dropping `tx` then tells the loop below.
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let is_layer = n.channel() == layer::CHANNEL;
                    if tx.send((is_layer, n.payload().to_owned())).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "capture listener connection failed");
                    return;
                }
                None => return,
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {}", layer::CHANNEL))
        .await?;
    let namespace = super::layer::namespace(config_schema);
    let schema = match schema {
        Some(s) => s.clone(),
        None => {
            // The store's tables land in the first schema of the search path.
            let row = client
                .query_one("SELECT current_schema()::text", &[])
                .await?;
            let s: String = row.try_get(0)?;
            *schema = Some(s.clone());
            s
        }
    };
    health.connected();
    let generation = *listening.borrow() + 1;
    listening.send_replace(generation);
    if generation > 1 {
        // Whatever changed while no one listened is only found by reading again.
        engine.refresh_all();
    }
    let mut heard = layer::Heard::default();
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::new(schema.clone(), origin);
        for (is_layer, payload) in
            std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
        {
            if is_layer {
                engine.receive_layer(&namespace, origin, &payload, &mut batch, &mut heard);
            } else {
                batch.push_payload(&payload);
            }
        }
        if !batch.is_empty() {
            engine.publish_captured(batch).await;
        }
    }
    drop(client);
    Ok(())
}
