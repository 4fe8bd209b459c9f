//! The chanbind demo server: `auth.User` and `todo.Task` over WebSocket.
//!
//! Run it with `cargo run --release -p chanbind-examples --bin demo -- --listen 127.0.0.1:8000`
//! (in-memory store), or add `--database-url postgres://...` (or set `DATABASE_URL`) for
//! PostgreSQL; the tables are created when missing and seeded when empty. With PostgreSQL,
//! `--capture` installs the triggers that push writes made by anything else (psql, another
//! demo process on another port: several processes on one database form one cluster).

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use chanbind_engine::config::Limits;
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::{AllowedOrigins, Engine};
use chanbind_examples::demo;
use chanbind_examples::serve::{redact, serve_until_stopped_with, serving, Adapter, Listener, Pg};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The chanbind demo server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// PostgreSQL URL; without one the demo runs on the in-memory store.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The adapter that serves connections.
    #[arg(long, value_enum, default_value_t = Adapter::Async)]
    adapter: Adapter,
    /// A user and their secret token, `NAME:SECRET` (repeatable). Each name becomes an
    /// `auth.User` if missing, and the demo's permission policy is enforced. Without any, the
    /// demo is an open playground.
    #[arg(long = "token", value_name = "NAME:SECRET", value_parser = parse_token)]
    tokens: Vec<(String, String)>,
    /// Refuse connections without a valid token (HTTP 401).
    #[arg(long)]
    no_anonymous: bool,
    /// With `--database-url`: install the capture triggers on the demo's tables, so writes
    /// made by anything else (psql, other programs, other demo processes) are pushed too.
    /// Idempotent. Every PostgreSQL demo listens for them, whoever installed them.
    #[arg(long, requires = "database_url", conflicts_with = "remove_capture")]
    capture: bool,
    /// With `--database-url`: remove the capture triggers (idempotent).
    #[arg(long, requires = "database_url")]
    remove_capture: bool,
    /// Close a WebSocket that sends nothing, not even a pong, for this many seconds (with
    /// 4000); 0 never does. The default is the engine's.
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<u64>,
    /// The most open connections; past it a new one is answered with HTTP 503.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// The most WebSockets one user (one address, for anonymous clients) may hold open;
    /// past it a handshake is answered with HTTP 503.
    #[arg(long, value_name = "N")]
    max_connections_per_user: Option<usize>,
    /// Requests per second one connection may send (twice that at once); one user's
    /// connections together may send five times as many. Past it a request gets
    /// `rate_limited` (HTTP 429). 0 turns rate limits off.
    #[arg(long, value_name = "REQUESTS_PER_SECOND")]
    rate_limit: Option<u32>,
    /// A web page origin (`https://app.example.com`) allowed to connect from a browser
    /// besides the demo's own (repeatable); `*` lets any page connect with a token or
    /// anonymously, never with the cookie.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Serve Prometheus metrics at `GET /metrics` on the same port (see the README's
    /// "Metrics"). Anyone who reaches the port can read them.
    #[arg(long)]
    metrics: bool,
}

impl Args {
    /// The limits the flags ask for, over the defaults.
    fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(secs) = self.idle_timeout {
            limits.idle_timeout = std::time::Duration::from_secs(secs);
        }
        if let Some(n) = self.max_connections {
            limits.max_connections = n;
        }
        if let Some(n) = self.max_connections_per_user {
            limits.max_connections_per_user = n;
        }
        if let Some(rate) = self.rate_limit {
            limits.requests_per_second = rate;
            limits.request_burst = rate.saturating_mul(2);
            limits.user_requests_per_second = rate.saturating_mul(5);
        }
        limits
    }

    /// The origins the flags allow.
    fn origins(&self) -> AllowedOrigins {
        let any = self.allow_origins.iter().any(|o| o == "*");
        let listed = self.allow_origins.iter().filter(|o| *o != "*").cloned();
        if any {
            AllowedOrigins::any().and(listed)
        } else {
            AllowedOrigins::list(listed)
        }
    }
}

fn parse_token(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, secret)) if !name.is_empty() && !secret.is_empty() => {
            Ok((name.to_owned(), secret.to_owned()))
        }
        _ => Err("expected NAME:SECRET".to_owned()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let policy = if args.tokens.is_empty() {
        demo::Policy::Open
    } else {
        demo::Policy::Enforced
    };
    let registry = demo::registry_with(policy)?;
    let (capture, remove_capture) = (args.capture, args.remove_capture);
    let (store, where_, pg): (Arc<dyn Store>, String, Option<Pg>) = match &args.database_url {
        Some(url) => {
            let pg = Pg::connect(args.adapter, url).await?;
            pg.migrate(&registry).await?;
            if capture {
                pg.install_capture(&registry).await?;
            } else if remove_capture {
                pg.remove_capture(&registry).await?;
            }
            (pg.store(), redact(url), Some(pg))
        }
        None => (
            Arc::new(MemoryStore::new(&registry)),
            "in process".to_owned(),
            None,
        ),
    };
    if capture {
        tracing::info!(
            "capture triggers installed: writes from any client of the database are pushed"
        );
    } else if remove_capture {
        tracing::info!("capture triggers removed");
    }
    let (registry, seeded, authenticator) = {
        let blocking = store.is_blocking();
        let (store, tokens) = (Arc::clone(&store), args.tokens.clone());
        let work = async move {
            let seeded = demo::seed(&registry, store.as_ref()).await?;
            let authenticator = demo::ensure_users(&registry, store.as_ref(), &tokens).await?;
            Ok::<_, demo::SeedError>((registry, seeded, authenticator))
        };
        // A blocking store is driven on a blocking thread.
        if blocking {
            tokio::task::spawn_blocking(move || futures_executor::block_on(work)).await??
        } else {
            work.await?
        }
    };
    if seeded {
        tracing::info!("seeded admin, user001..user100 and a few tasks");
    }
    tracing::info!(store = store.kind(), location = %where_, "store ready");
    if policy == demo::Policy::Open {
        tracing::warn!("NO --token GIVEN: this is an open playground; every client may read and change every row");
    } else {
        let names: Vec<&str> = args.tokens.iter().map(|(n, _)| n.as_str()).collect();
        tracing::info!(users = ?names, anonymous = !args.no_anonymous, "permission policy enforced");
    }
    let mut builder = Engine::builder(registry, store)
        .limits(args.limits())
        .allowed_origins(args.origins())
        .authenticator(authenticator)
        .allow_anonymous(!args.no_anonymous);
    // With PostgreSQL, group sends and broadcasts reach the other demo processes too.
    if let Some(pg) = &pg {
        builder = pg.layer(builder)?;
    }
    let engine = builder.start().await?;
    tracing::info!(layer = engine.layer_kind(), "channel layer ready");
    // Every PostgreSQL node listens, so several demo processes on one database form a
    // cluster as soon as one of them installed the triggers.
    let listener = match &pg {
        None => Listener::None,
        Some(pg) => pg.listen(engine.clone())?,
    };
    serve_until_stopped_with(
        args.adapter,
        args.listen,
        engine,
        serving(chanbind_examples::demo_page::ASSETS.to_vec()).metrics(args.metrics),
        listener,
        "task board",
    )
    .await
}
