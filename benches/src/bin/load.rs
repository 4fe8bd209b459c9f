//! The load tool: opens C WebSocket connections to one loopback URL and drives them in a closed
//! loop (request, wait for its reply, next request) for S seconds, then prints one JSON object
//! with requests per second and latency percentiles.
//!
//! ```text
//! cargo run --release -p chanbind-benches --bin load -- \
//!     --url ws://127.0.0.1:8000/ --connections 64 --seconds 10 --mix retrieve
//! ```
//!
//! Every connection is open (and past the `hello`) before the clock starts, so the figures
//! measure steady traffic rather than handshakes. Error frames, timeouts, failed connects and
//! disconnects are counted in `errors`; a lost connection is reopened while time is left.
//! The tool only talks to loopback addresses and stops by itself: at the deadline, or after
//! `--max-requests` requests.

// A binary's root looks for modules beside itself, where Cargo would take them for binaries.
#[path = "load/conn.rs"]
mod conn;
#[path = "load/mix.rs"]
mod mix;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::conn::{Role, Run, Stats};
use crate::mix::Mix;

/// The most connections one run may open; far above the 1,000 the sync adapter must hold.
const MAX_CONNECTIONS: usize = 20_000;
/// The longest run allowed, so a mistyped `--seconds` cannot keep a shared machine busy.
const MAX_SECONDS: f64 = 600.0;

/// Drives a chanbind (or echo) server with C closed-loop connections for S seconds.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// The WebSocket URL; its host must resolve to loopback addresses only.
    #[arg(long, default_value = "ws://127.0.0.1:8000/")]
    url: String,
    /// How many connections to open.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to drive them, once all are open.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// What the connections send.
    #[arg(long, value_enum, default_value_t = Mix::Retrieve)]
    mix: Mix,
    /// update-fanout: how many connections subscribe (the rest update); half by default.
    #[arg(long)]
    subscribers: Option<usize>,
    /// Stop after this many requests over all connections, even before the deadline.
    #[arg(long, default_value_t = 100_000_000)]
    max_requests: u64,
    /// Milliseconds a request or a connect may take before it counts as an error; also how
    /// long opening all the connections may take.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Handshakes in flight at once while connecting, to stay inside the server's accept
    /// backlog.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Worker threads of the client's runtime; one per core by default.
    #[arg(long)]
    threads: Option<usize>,
}

/// The one JSON object the tool prints, fields in this order.
#[derive(Debug, Serialize)]
struct Report {
    url: String,
    mix: &'static str,
    connections: usize,
    /// Measured from the start signal to the last connection's last request.
    seconds: f64,
    requests: u64,
    errors: u64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    pushes: u64,
    /// Connections that were open when the clock started.
    connected: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = check(&args) {
        eprintln!("load: {e}");
        return ExitCode::from(2);
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("load: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(args: &Args) -> Result<(), String> {
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        return Err(format!("--connections must be 1 to {MAX_CONNECTIONS}"));
    }
    if !(args.seconds > 0.0 && args.seconds <= MAX_SECONDS) {
        return Err(format!(
            "--seconds must be above 0 and at most {MAX_SECONDS}"
        ));
    }
    if args.mix == Mix::UpdateFanout && args.connections < 2 {
        return Err(
            "update-fanout needs at least 2 connections (a subscriber and an updater)".into(),
        );
    }
    if args.timeout_ms == 0 || args.connect_concurrency == 0 || args.threads == Some(0) {
        return Err("--timeout-ms, --connect-concurrency and --threads must be positive".into());
    }
    Ok(())
}

async fn run(args: Args) -> Result<Report, String> {
    let addr = loopback_addr(&args.url).await?;
    let subscribers = match args.mix {
        Mix::UpdateFanout => args
            .subscribers
            .unwrap_or(args.connections / 2)
            .clamp(1, args.connections - 1),
        _ => 0,
    };
    let role = move |conn: usize| {
        if conn < subscribers {
            Role::Subscriber
        } else {
            Role::Requests
        }
    };
    let mut run = Run {
        url: args.url.clone(),
        addr,
        mix: args.mix,
        timeout: Duration::from_millis(args.timeout_ms),
        // Set for real once every connection is open.
        deadline: Instant::now(),
        max_requests: args.max_requests,
        started: AtomicU64::new(0),
    };

    // Phase one: open every connection, a bounded number of handshakes at a time, all within
    // one timeout, so a server that accepts slowly cannot stretch the run; connections still
    // closed then count as errors and are retried in phase two.
    let permits = Arc::new(Semaphore::new(args.connect_concurrency));
    let window = Instant::now() + run.timeout;
    let shared = Arc::new(run);
    let mut opening = Vec::with_capacity(args.connections);
    for conn in 0..args.connections {
        let (permits, shared) = (Arc::clone(&permits), Arc::clone(&shared));
        opening.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let limit = window.saturating_duration_since(Instant::now());
            conn::connect(&shared, role(conn), limit).await
        }));
    }
    let mut totals = Stats::new();
    let mut sockets = Vec::with_capacity(args.connections);
    for task in opening {
        match task.await {
            Ok(Ok(ws)) => sockets.push(Some(ws)),
            Ok(Err(e)) => {
                totals.error(|| e);
                sockets.push(None);
            }
            Err(e) => {
                totals.error(|| format!("connect task failed: {e}"));
                sockets.push(None);
            }
        }
    }
    let connected = sockets.iter().filter(|ws| ws.is_some()).count();
    run = Arc::try_unwrap(shared).map_err(|_| "connect tasks still hold the run".to_owned())?;

    // Phase two: everyone starts together and stops at the deadline.
    let start = Instant::now();
    run.deadline = start + Duration::from_secs_f64(args.seconds);
    let run = Arc::new(run);
    let drivers: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(conn, ws)| tokio::spawn(conn::drive(Arc::clone(&run), conn, role(conn), ws)))
        .collect();
    for driver in drivers {
        match driver.await {
            Ok(stats) => totals.merge(stats),
            Err(e) => totals.error(|| format!("connection task failed: {e}")),
        }
    }
    // The closing handshakes after the deadline are not part of the measurement.
    let seconds = totals
        .finished
        .unwrap_or_else(Instant::now)
        .duration_since(start)
        .as_secs_f64();
    if let Some(why) = &totals.first_error {
        eprintln!("load: {} errors; the first: {why}", totals.errors);
    }
    let latency = &totals.latency;
    let percentile = |q: f64| {
        if latency.is_empty() {
            0
        } else {
            latency.value_at_quantile(q)
        }
    };
    Ok(Report {
        url: args.url,
        mix: args.mix.name(),
        connections: args.connections,
        seconds: (seconds * 1000.0).round() / 1000.0,
        requests: totals.requests,
        errors: totals.errors,
        rps: (totals.requests as f64 / seconds * 10.0).round() / 10.0,
        p50_us: percentile(0.5),
        p99_us: percentile(0.99),
        max_us: latency.max(),
        pushes: totals.pushes,
        connected,
    })
}

/// Resolves the URL's host and port, refusing anything but `ws://` to loopback addresses: this
/// tool generates load, and the only servers it may load are on this machine.
async fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad --url {url:?}: {e}"))?;
    if uri.scheme_str() != Some("ws") {
        return Err(format!("--url must start with ws:// (got {url:?})"));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("--url {url:?} has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    match addrs.first() {
        Some(first) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*first),
        Some(_) => Err(format!(
            "{host} resolves to {addrs:?}: only loopback addresses may be loaded"
        )),
        None => Err(format!("{host} resolves to no address")),
    }
}
