//! The chanbind demo server: `auth.User` and `todo.Task` over WebSocket.
//!
//! Run it with `cargo run --release -p chanbind-examples --bin demo -- --listen 127.0.0.1:8000`
//! (in-memory store), or add `--database-url postgres://...` (or set `DATABASE_URL`) for
//! PostgreSQL; the tables are created when missing and seeded when empty. With PostgreSQL,
//! `--capture` installs the triggers that push writes made by anything else (psql, another
//! demo process on another port: several processes on one database form one cluster).
//!
//! Each setting is a field of [`Args`]: a flag, an environment variable and a key of the TOML
//! file `--config` names (`examples/demo.toml`; `config_file` reads it). A field added here
//! is all three with no other code; give it a doc comment (its `--help`) and a row in the
//! README's table of demo settings, which a test compares with `--help`. A setting from the
//! file is a default clap parses with, so what clap checks between arguments (`requires`,
//! `conflicts_with`) it does not check for the file: [`Args::check`] does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chanbind_engine::auth::{JwksError, JwtAuthenticator};
use chanbind_engine::config::Limits;
use chanbind_engine::sql::PgError;
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::{AllowedOrigins, Engine};
use chanbind_examples::logging::{self, LogFormat};
use chanbind_examples::serve::{redact, serve_until_stopped_with, serving, Adapter, Listener, Pg};
use chanbind_examples::startup::{self, StartupError};
use chanbind_examples::{config_file, demo};
use clap::Parser;

/// The chanbind demo server.
///
/// Every setting is a flag, an environment variable and a key of the TOML file `--config`
/// names (the field's name: `max_connections = 50`); a flag beats its variable, which beats
/// the file, which beats the default. Exits with 2 when the settings are wrong and 1 when the
/// server cannot start (the database cannot be reached or does not exist, the address is in
/// use), with one line saying why.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// A TOML file of settings, each keyed by its field's name (`listen = "0.0.0.0:8000"`,
    /// `max_connections = 50`, `tokens = ["alice:s3cret"]`, `no_anonymous = true`); the README's
    /// table and `examples/demo.toml` list them. An unknown key is an error.
    #[arg(long, value_name = "FILE", env = "CHANBIND_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000", env = "CHANBIND_LISTEN")]
    listen: SocketAddr,
    /// PostgreSQL URL; without one the demo runs on the in-memory store.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The adapter that serves connections.
    #[arg(long, value_enum, default_value_t = Adapter::Async, env = "CHANBIND_ADAPTER")]
    adapter: Adapter,
    /// A user and their secret token, `NAME:SECRET` (repeatable; comma-separated in the
    /// environment). Each name becomes an `auth.User` if missing, and the demo's permission
    /// policy is enforced. Without any, the demo is an open playground.
    #[arg(
        long = "token",
        value_name = "NAME:SECRET",
        value_parser = parse_token,
        value_delimiter = ',',
        env = "CHANBIND_TOKENS"
    )]
    tokens: Vec<(String, String)>,
    /// Verify HS256 JWTs signed with this secret (`sub` is the `auth.User` id; a role or
    /// claim `admin` is the admin). Enforces the permission policy, like `--token`.
    #[arg(
        long,
        value_name = "SECRET",
        env = "CHANBIND_JWT_SECRET",
        hide_env_values = true
    )]
    jwt_secret: Option<String>,
    /// Verify RS256/ES256 JWTs with the keys of this JWKS document: a file, or an
    /// `http://` or `https://` URL, fetched every 5 minutes and on an unknown `kid`. Enforces
    /// the permission policy, like `--token`.
    #[arg(long, value_name = "FILE_OR_URL", conflicts_with = "jwt_secret")]
    jwks: Option<String>,
    /// With a JWT option: accept only tokens whose `iss` is this.
    #[arg(long, value_name = "ISSUER")]
    jwt_issuer: Option<String>,
    /// With a JWT option: accept only tokens whose `aud` is or contains this.
    #[arg(long, value_name = "AUDIENCE")]
    jwt_audience: Option<String>,
    /// Refuse connections without a valid token (HTTP 401).
    #[arg(long, env = "CHANBIND_NO_ANONYMOUS")]
    no_anonymous: bool,
    /// With `--database-url`: install the capture triggers on the demo's tables, so writes
    /// made by anything else (psql, other programs, other demo processes) are pushed too.
    /// Idempotent. Every PostgreSQL demo listens for them, whoever installed them.
    #[arg(
        long,
        requires = "database_url",
        conflicts_with = "remove_capture",
        env = "CHANBIND_CAPTURE"
    )]
    capture: bool,
    /// With `--database-url`: remove the capture triggers (idempotent).
    #[arg(long, requires = "database_url", env = "CHANBIND_REMOVE_CAPTURE")]
    remove_capture: bool,
    /// Close a WebSocket that sends nothing, not even a pong, for this many seconds (with
    /// 4000); 0 never does. The default is the engine's.
    #[arg(long, value_name = "SECONDS", env = "CHANBIND_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// The most open connections; past it a new one is answered with HTTP 503.
    #[arg(long, value_name = "N", env = "CHANBIND_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// The most WebSockets one user (one address, for anonymous clients) may hold open;
    /// past it a handshake is answered with HTTP 503.
    #[arg(long, value_name = "N", env = "CHANBIND_MAX_CONNECTIONS_PER_USER")]
    max_connections_per_user: Option<usize>,
    /// Requests per second one connection may send (twice that at once); one user's
    /// connections together may send five times as many. Past it a request gets
    /// `rate_limited` (HTTP 429). 0 turns rate limits off.
    #[arg(long, value_name = "REQUESTS_PER_SECOND", env = "CHANBIND_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// A web page origin (`https://app.example.com`) allowed to connect from a browser
    /// besides the demo's own (repeatable; comma-separated in the environment); `*` lets any
    /// page connect with a token or anonymously, never with the cookie.
    #[arg(
        long = "allow-origin",
        value_name = "ORIGIN",
        value_delimiter = ',',
        env = "CHANBIND_ALLOW_ORIGINS"
    )]
    allow_origins: Vec<String>,
    /// How log lines are written: `text` (coloured only on a terminal) or `json` (one object
    /// per line). `RUST_LOG` picks what is logged.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// On Ctrl-C or SIGTERM, answer `/readyz` with 503 for this many seconds while serving
    /// everything else as before, so a load balancer stops sending clients, before closing
    /// WebSockets with 1001. Behind one, set it above its check interval times its failure
    /// threshold.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    drain_delay: u64,
    /// Serve Prometheus metrics at `GET /metrics` on the same port (see the README's
    /// "Metrics"). Anyone who reaches the port can read them.
    #[arg(long)]
    metrics: bool,
}

impl Args {
    /// What clap cannot check of settings that came from the file (it checks `requires` and
    /// `conflicts_with` only between flags and environment variables).
    fn check(&self) -> Result<(), &'static str> {
        if (self.capture || self.remove_capture) && self.database_url.is_none() {
            return Err("capture and remove_capture need database_url");
        }
        if self.capture && self.remove_capture {
            return Err("capture and remove_capture cannot both be set");
        }
        if self.jwt_secret.is_some() && self.jwks.is_some() {
            return Err("jwt_secret and jwks cannot both be set");
        }
        Ok(())
    }

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

impl Args {
    /// The JWT authenticator the flags ask for, if any.
    fn jwt(&self) -> Result<Option<JwtAuthenticator>, JwksError> {
        let auth = match (&self.jwt_secret, &self.jwks) {
            (Some(secret), _) => JwtAuthenticator::hs256(secret),
            (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {
                JwtAuthenticator::jwks_url(url)?
            }
            (None, Some(file)) => JwtAuthenticator::jwks_file(file)?,
            (None, None) => return Ok(None),
        };
        let auth = match &self.jwt_issuer {
            Some(issuer) => auth.issuer(issuer),
            None => auth,
        };
        Ok(Some(match &self.jwt_audience {
            Some(audience) => auth.audience(audience),
            None => auth,
        }))
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
async fn main() -> ExitCode {
    let args: Args = config_file::parse("CHANBIND_");
    logging::init(args.log_format);
    if let Err(e) = args.check() {
        eprintln!("error: {e}");
        return ExitCode::from(config_file::EXIT_USAGE as u8);
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line an operator can act on, not a `Debug` dump.
            eprintln!("error: {e}");
            ExitCode::from(startup::EXIT_FAILURE as u8)
        }
    }
}

async fn run(args: Args) -> Result<(), StartupError> {
    let jwt = args.jwt().map_err(|e| StartupError::other(&e))?;
    if let Some(jwt) = &jwt {
        // A JWKS URL that cannot be fetched now is worth a warning, not a refusal to start:
        // the identity provider may come up after us (requests get 503 until it does).
        if let Err(e) = jwt.preload().await {
            tracing::warn!(error = %e, "JWKS not loaded yet");
        }
    }
    let policy = if args.tokens.is_empty() && jwt.is_none() {
        demo::Policy::Open
    } else {
        demo::Policy::Enforced
    };
    let registry = demo::registry_with(policy).map_err(|e| StartupError::other(&e))?;
    let (capture, remove_capture) = (args.capture, args.remove_capture);
    let (store, where_, pg): (Arc<dyn Store>, String, Option<Pg>) = match &args.database_url {
        Some(url) => {
            let database = |e: PgError| StartupError::database(url, &e);
            let pg = Pg::connect(args.adapter, url).await.map_err(database)?;
            pg.migrate(&registry).await.map_err(database)?;
            if capture {
                pg.install_capture(&registry).await.map_err(database)?;
            } else if remove_capture {
                pg.remove_capture(&registry).await.map_err(database)?;
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
        let seeded = if blocking {
            tokio::task::spawn_blocking(move || futures_executor::block_on(work))
                .await
                .map_err(|e| StartupError::other(&e))?
        } else {
            work.await
        };
        seeded.map_err(|e| StartupError::other(&e))?
    };
    if seeded {
        tracing::info!("seeded admin, user001..user100 and a few tasks");
    }
    tracing::info!(store = store.kind(), location = %where_, "store ready");
    if policy == demo::Policy::Open {
        tracing::warn!("NO --token GIVEN: this is an open playground; every client may read and change every row");
    } else {
        let names: Vec<&str> = args.tokens.iter().map(|(n, _)| n.as_str()).collect();
        tracing::info!(users = ?names, jwt = jwt.is_some(), anonymous = !args.no_anonymous, "permission policy enforced");
    }
    let mut builder = Engine::builder(registry, store)
        .limits(args.limits())
        .allowed_origins(args.origins());
    // The JWT authenticator first: it passes over tokens that are not JWTs, while the token
    // table refuses every token it does not know.
    if let Some(jwt) = jwt {
        builder = builder.authenticator(jwt);
    }
    let mut builder = builder
        .authenticator(authenticator)
        .allow_anonymous(!args.no_anonymous);
    // With PostgreSQL, group sends and broadcasts reach the other demo processes too.
    if let Some(pg) = &pg {
        builder = pg.layer(builder).map_err(|e| StartupError::other(&e))?;
    }
    let engine = builder.start().await.map_err(|e| StartupError::other(&e))?;
    tracing::info!(layer = engine.layer_kind(), "channel layer ready");
    // Every PostgreSQL node listens, so several demo processes on one database form a
    // cluster as soon as one of them installed the triggers.
    let listener = match &pg {
        None => Listener::None,
        Some(pg) => pg
            .listen(engine.clone())
            .map_err(|e| StartupError::other(&e))?,
    };
    serve_until_stopped_with(
        args.adapter,
        args.listen,
        engine,
        serving(chanbind_examples::demo_page::ASSETS.to_vec())
            .metrics(args.metrics)
            .drain_delay(std::time::Duration::from_secs(args.drain_delay)),
        listener,
        "task board",
    )
    .await
    .map_err(|e| StartupError::serving(args.listen, e.as_ref()))
}
