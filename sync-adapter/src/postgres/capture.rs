//! The capture listener of the blocking adapter: a thread with its own `postgres` connection
//! that `LISTEN`s on [`CHANNEL`] and publishes what other writers changed, and on the channel
//! layer's [`layer::CHANNEL`] and delivers what other nodes sent (see [`super::PgLayer`]).
//!
//! It waits for notifications with a short timeout, so it notices a stop request and a dead
//! connection promptly; what arrived together is read as one coalesced [`Batch`]. When the
//! connection drops, it reconnects with backoff and, once listening again, asks the engine to
//! refresh every live subscription ([`Engine::refresh_all`]), since notifications sent while
//! it was away are lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chanbind_engine::capture::Batch;
use chanbind_engine::health::{Hears, ListenerHealth};
use chanbind_engine::layer;
use chanbind_engine::sql::capture::CHANNEL;
use chanbind_engine::Engine;
use postgres::fallible_iterator::FallibleIterator;
use postgres::NoTls;

use super::PgStore;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long one wait for notifications lasts before the stop flag is checked again.
const POLL: Duration = Duration::from_millis(100);

/// How many times the listener has started listening, and a way to wait for it.
#[derive(Debug, Default)]
struct Listening {
    count: Mutex<u64>,
    changed: Condvar,
}

/// A running capture listener. Dropping it stops the listener and joins its thread.
#[derive(Debug)]
pub struct CaptureListener {
    stop: Arc<AtomicBool>,
    listening: Arc<Listening>,
    thread: Option<JoinHandle<()>>,
}

impl CaptureListener {
    /// Blocks until the listener has started listening at least `times` times in all (1: the
    /// first connection; 2: after the first reconnection), or until `timeout`. Returns whether
    /// it got there. Writes made before listening are not captured.
    pub fn wait_listening(&self, times: u64, timeout: Duration) -> bool {
        let count = self
            .listening
            .count
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (count, _) = self
            .listening
            .changed
            .wait_timeout_while(count, timeout, |n| *n < times)
            .unwrap_or_else(|p| p.into_inner());
        *count >= times
    }

    /// Stops the listener and waits for its thread.
    pub fn stop(self) {}
}

impl Drop for CaptureListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl PgStore {
    /// Starts this node's capture listener on a thread of its own: changes other writers make
    /// to the tables of `engine`'s bindings, in this store's schema, are read through
    /// `engine`'s store and published. Writes made through
    /// chanbind reach the other nodes through the channel layer ([`PgStore::layer`]), not
    /// the triggers. The triggers come from
    /// [`install_capture`](Self::install_capture).
    pub fn listen(&self, engine: Engine) -> std::io::Result<CaptureListener> {
        let stop = Arc::new(AtomicBool::new(false));
        let listening = Arc::new(Listening::default());
        // `/readyz` counts this connection for the capture and the layer checks alike: it
        // hears both channels.
        let health = engine.listener_health(Hears {
            capture: true,
            layer: true,
        });
        let node = Node {
            health,
            config: self.pg.clone(),
            origin: self.origin.clone(),
            config_schema: self.schema.clone(),
            schema: self.schema.clone(),
            engine,
            stop: Arc::clone(&stop),
            listening: Arc::clone(&listening),
        };
        let thread = std::thread::Builder::new()
            .name("chanbind-capture".into())
            .spawn(move || node.run())?;
        Ok(CaptureListener {
            stop,
            listening,
            thread: Some(thread),
        })
    }
}

struct Node {
    /// What readiness sees of this listener's connection.
    health: ListenerHealth,
    config: postgres::Config,
    origin: String,
    /// The store's configured schema: the layer's namespace.
    config_schema: Option<String>,
    /// The schema capture notifications must name (the search path's first when unset).
    schema: Option<String>,
    engine: Engine,
    stop: Arc<AtomicBool>,
    listening: Arc<Listening>,
}

impl Node {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        while !self.stopped() {
            match self.listen_once() {
                Ok(()) if self.stopped() => return,
                Ok(()) => {
                    tracing::warn!("capture listener lost its connection; reconnecting");
                    backoff = MIN_BACKOFF;
                }
                Err(e) => tracing::warn!(error = %e, ?backoff, "capture listener cannot connect"),
            }
            self.health.disconnected();
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stopped() {
                std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Delivers a layer message at once; adds a capture notification to the batch.
    fn take(&self, batch: &mut Batch, heard: &mut layer::Heard, n: &postgres::Notification) {
        if n.channel() == layer::CHANNEL {
            let namespace = self.config_schema.as_deref().unwrap_or_default();
            self.engine
                .receive_layer(namespace, &self.origin, n.payload(), batch, heard);
        } else {
            batch.push_payload(n.payload());
        }
    }

    /// Connects, listens, and publishes until the connection ends or a stop is asked (`Ok`),
    /// or fails to start.
    fn listen_once(&mut self) -> Result<(), postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {}", layer::CHANNEL))?;
        let schema = match &self.schema {
            Some(s) => s.clone(),
            None => {
                // The store's tables land in the first schema of the search path.
                let s: String = client
                    .query_one("SELECT current_schema()::text", &[])?
                    .try_get(0)?;
                self.schema = Some(s.clone());
                s
            }
        };
        self.health.connected();
        let generation = {
            let mut count = self
                .listening
                .count
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *count += 1;
            self.listening.changed.notify_all();
            *count
        };
        if generation > 1 {
            // Whatever changed while no one listened is only found by reading again.
            self.engine.refresh_all();
        }
        let mut heard = layer::Heard::default();
        while !self.stopped() {
            let mut batch = Batch::new(schema.clone(), self.origin.clone());
            {
                let mut notifications = client.notifications();
                // The first waits up to POLL; then whatever else already arrived joins it.
                let first = notifications.timeout_iter(POLL).next()?;
                if let Some(n) = first {
                    self.take(&mut batch, &mut heard, &n);
                    let mut ready = notifications.iter();
                    while let Some(n) = ready.next()? {
                        self.take(&mut batch, &mut heard, &n);
                    }
                }
            }
            if !batch.is_empty() {
                // The engine's store is this adapter's blocking one: this thread may block.
                futures_executor::block_on(self.engine.publish_captured(batch));
            }
            if client.is_closed() {
                return Ok(());
            }
        }
        Ok(())
    }
}
