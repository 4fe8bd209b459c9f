//! Run it with `cargo run -p chanbind-examples --bin embed_blocking -- --listen 127.0.0.1:8081` (in-memory store), or add `--database-url postgres://...` (or set `DATABASE_URL`).
//!
//! chanbind inside a blocking program: plain threads, no `#[tokio::main]`. The program owns
//! its listener and accept loop, reads each connection's request head itself, answers
//! `GET /status` on its own, and hands every other connection to chanbind's sync adapter with
//! the bytes it read (`chanbind_sync::serve_stream_with`): the demo's task board at `/`, its
//! WebSocket at `ws://ADDR/`, its HTTP API under `/api/`. The engine runs on an
//! `EngineRuntime`, a small tokio runtime of its own, so a custom event handler may use tokio:
//! `util.nap` sleeps on tokio's timer and replies
//! (`{"event": "util.nap", "data": {"ms": 100}}` answers `{"slept_ms": 100}`).
//! Ctrl-C or SIGTERM closes every WebSocket with 1001 and exits.

use std::error::Error;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chanbind_engine::binding::{CustomBinding, EventContext, HandlerResult};
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use chanbind_examples::demo;
use chanbind_examples::serve::{redact, stop_signal};
use chanbind_sync::{ConnectionHandle, EngineRuntime, ServerConfig};
use clap::Parser;
use serde_json::json;

/// A blocking program that serves the demo's bindings on chanbind's sync adapter from its own
/// accept loop.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// PostgreSQL URL; without one the program runs on the in-memory store.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

/// The most bytes the program reads to route a connection: a head that has not ended by then
/// goes to chanbind, which refuses it if it is too large.
const ROUTE_BYTES: usize = 8 * 1024;

/// How long a client has to send the head the program routes by.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest nap `util.nap` takes, in milliseconds.
const MAX_NAP_MS: u64 = 5_000;

/// `util.nap`: sleeps `ms` milliseconds (100 by default) on tokio's timer, then replies.
/// Connection threads run it with the engine runtime's context entered.
async fn nap(ctx: EventContext) -> HandlerResult {
    let ms = ctx
        .data()
        .get("ms")
        .and_then(|ms| ms.as_u64())
        .unwrap_or(100)
        .min(MAX_NAP_MS);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Some(json!({ "slept_ms": ms })))
}

fn main() -> Result<(), Box<dyn Error>> {
    chanbind_examples::logging::init(Default::default());
    let args = Args::parse();

    // The store: the blocking adapter takes the blocking PostgreSQL store.
    let registry = demo::registry()?.custom(CustomBinding::new("util").on("nap", nap))?;
    let store: Arc<dyn Store> = match &args.database_url {
        Some(url) => {
            let config = chanbind_sync::postgres::PgConfig {
                url: url.clone(),
                ..Default::default()
            };
            let store = chanbind_sync::postgres::PgStore::connect(config)?;
            store.migrate(&registry)?;
            tracing::info!(location = %redact(url), "PostgreSQL store ready");
            Arc::new(store)
        }
        None => Arc::new(MemoryStore::new(&registry)),
    };
    // A blocking store may be driven from this plain thread.
    if futures_executor::block_on(demo::seed(&registry, store.as_ref()))? {
        tracing::info!("seeded admin, user001..user100 and a few tasks");
    }

    // Start: the engine's actors on a runtime of their own. This is an open playground (no
    // authenticator): every client may read and change every row.
    let runtime = EngineRuntime::start(Engine::builder(registry, store).allow_anonymous(true))?;
    let mut config = ServerConfig::default();
    config.http.static_files = chanbind_examples::demo_page::ASSETS.to_vec();

    let listener = TcpListener::bind(args.listen)?;
    let addr = listener.local_addr()?;
    let handed = Handed::default();
    {
        let (engine, handed) = (runtime.engine(), handed.clone());
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept_loop(listener, engine, config, handed))?;
    }
    tracing::info!(
        "listening on http://{addr}/ (task board), http://{addr}/status (this program's own), ws://{addr}/ (WebSocket) and http://{addr}/api/ (HTTP API)"
    );

    // Shutdown: wait for a signal (on the engine's runtime, which has tokio's signal driver),
    // then close every connection chanbind serves, then stop the engine with its runtime.
    let signal = runtime.block_on(stop_signal())?;
    tracing::info!(signal, "shutting down");
    let closing: Vec<ConnectionHandle> = std::mem::take(&mut *handed.lock());
    let closers: Vec<_> = closing
        .into_iter()
        .map(|conn| std::thread::spawn(move || conn.close()))
        .collect();
    for closer in closers {
        let _ = closer.join();
    }
    drop(runtime);
    Ok(())
}

/// The connections handed to chanbind, kept to close them at shutdown.
#[derive(Clone, Default)]
struct Handed(Arc<Mutex<Vec<ConnectionHandle>>>);

impl Handed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ConnectionHandle>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `conn`, dropping the handles of connections that have ended.
    fn keep(&self, conn: ConnectionHandle) {
        let mut handed = self.lock();
        handed.retain(|c| !c.is_finished());
        handed.push(conn);
    }
}

/// The program's accept loop: each connection is routed on a thread of its own, so a slow
/// client does not hold up the others.
fn accept_loop(listener: TcpListener, engine: Engine, config: ServerConfig, handed: Handed) {
    let served = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let (engine, config, handed, served) = (
            engine.clone(),
            config.clone(),
            handed.clone(),
            Arc::clone(&served),
        );
        let _ = std::thread::Builder::new()
            .name("route".into())
            .spawn(move || route(stream, engine, &config, &handed, &served));
    }
}

/// Reads the connection's first request head and either answers it (`GET /status`) or hands
/// the connection, with what was read, to chanbind.
fn route(
    mut stream: TcpStream,
    engine: Engine,
    config: &ServerConfig,
    handed: &Handed,
    served: &AtomicUsize,
) {
    let Ok(read) = read_head(&mut stream) else {
        return;
    };
    let mut request_line = read.split(|&b| b == b'\n').next().unwrap_or_default();
    request_line = request_line.strip_suffix(b"\r").unwrap_or(request_line);
    let mut words = request_line.split(|&b| b == b' ');
    let (method, target) = (words.next(), words.next());
    let path = target.map(|t| t.split(|&b| b == b'?').next().unwrap_or_default());
    if method == Some(b"GET") && path == Some(b"/status") {
        let body = json!({
            "status": "ok",
            "served_by": "embed_blocking",
            "handed_to_chanbind": served.load(Ordering::Relaxed),
        })
        .to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes());
        return;
    }
    served.fetch_add(1, Ordering::Relaxed);
    match chanbind_sync::serve_stream_with(stream, &read, engine, config) {
        Ok(conn) => handed.keep(conn),
        Err(e) => tracing::warn!(error = %e, "cannot hand the connection to chanbind"),
    }
}

/// Reads until the end of the first request head, [`ROUTE_BYTES`] at most: every byte read,
/// which may include part of a body or the first WebSocket frames.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(ROUTE_TIMEOUT))?;
    let mut read = Vec::new();
    let mut buf = [0; 2048];
    while read.len() < ROUTE_BYTES && !read.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}
