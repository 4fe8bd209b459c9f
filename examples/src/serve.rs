//! What the example servers share: the `--adapter` flag, the PostgreSQL store of either
//! adapter, and serving an engine until SIGINT or SIGTERM.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use chanbind_engine::binding::{ModelBinding, Registry};
use chanbind_engine::http::{ServerSettings, StaticFile};
use chanbind_engine::store::Store;
use chanbind_engine::{Engine, EngineBuilder};
use clap::ValueEnum;

/// Which runtime serves the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Adapter {
    /// tokio and tokio-tungstenite.
    Async,
    /// One thread per connection on mio and tungstenite (`chanbind-sync`).
    Sync,
}

/// The PostgreSQL store of the chosen adapter, kept typed to start its channel layer and
/// capture listener. Its blocking methods may be called from async code (they go through
/// the engine's `run_blocking`).
#[derive(Debug, Clone)]
pub enum Pg {
    /// tokio-postgres, for the async adapter.
    Async(Arc<chanbind_async::postgres::PgStore>),
    /// The `postgres` crate, for the sync adapter: the blocking adapter takes the blocking
    /// store.
    Sync(Arc<chanbind_sync::postgres::PgStore>),
}

impl Pg {
    /// Connects to `url` with a pool of 16 connections, on the store `adapter` takes.
    pub async fn connect(
        adapter: Adapter,
        url: &str,
    ) -> Result<Pg, chanbind_async::postgres::PgError> {
        let config = chanbind_async::postgres::PgConfig {
            url: url.to_owned(),
            schema: None,
            pool_size: 16,
            ..Default::default()
        };
        Ok(match adapter {
            Adapter::Async => Pg::Async(Arc::new(
                chanbind_async::postgres::PgStore::connect(config).await?,
            )),
            Adapter::Sync => Pg::Sync(Arc::new(chanbind_sync::postgres::PgStore::connect(config)?)),
        })
    }

    /// The store, for the engine.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Pg::Async(store) => Arc::clone(store) as Arc<dyn Store>,
            Pg::Sync(store) => Arc::clone(store) as Arc<dyn Store>,
        }
    }

    /// Creates the missing tables and checks the rest (`PgStore::migrate`).
    pub async fn migrate(
        &self,
        registry: &Registry,
    ) -> Result<(), chanbind_async::postgres::PgError> {
        match self {
            Pg::Async(store) => store.migrate(registry).await,
            Pg::Sync(store) => store.migrate(registry),
        }
    }

    /// Tells the store which stream each table serves (`PgStore::register`), for tables it
    /// did not create.
    pub fn register(&self, registry: &Registry) {
        match self {
            Pg::Async(store) => store.register(registry),
            Pg::Sync(store) => store.register(registry),
        }
    }

    /// Binds existing tables by introspection (`PgStore::introspect_all`).
    pub async fn introspect_all(
        &self,
        tables: &[&str],
    ) -> Result<Vec<ModelBinding>, chanbind_async::postgres::PgError> {
        match self {
            Pg::Async(store) => store.introspect_all(tables).await,
            Pg::Sync(store) => store.introspect_all(tables),
        }
    }

    /// Installs the capture triggers on the bound tables (idempotent).
    pub async fn install_capture(
        &self,
        registry: &Registry,
    ) -> Result<(), chanbind_async::postgres::PgError> {
        match self {
            Pg::Async(store) => store.install_capture(registry).await,
            Pg::Sync(store) => store.install_capture(registry),
        }
    }

    /// Removes the capture triggers (idempotent).
    pub async fn remove_capture(
        &self,
        registry: &Registry,
    ) -> Result<(), chanbind_async::postgres::PgError> {
        match self {
            Pg::Async(store) => store.remove_capture(registry).await,
            Pg::Sync(store) => store.remove_capture(registry),
        }
    }

    /// Puts the store's channel layer on `builder`: group sends and broadcasts reach the
    /// other processes on the database.
    pub fn layer(&self, builder: EngineBuilder) -> std::io::Result<EngineBuilder> {
        Ok(match self {
            Pg::Async(store) => builder.layer(store.layer()),
            Pg::Sync(store) => builder.layer(store.layer()?),
        })
    }

    /// Starts listening for the capture triggers' notifications, so writes made by anything
    /// else are pushed.
    pub fn listen(&self, engine: Engine) -> std::io::Result<Listener> {
        Ok(match self {
            Pg::Async(store) => Listener::Async(store.listen(engine)),
            Pg::Sync(store) => Listener::Sync(store.listen(engine)?),
        })
    }
}

/// A running capture listener, held until the server exits.
pub enum Listener {
    /// None runs (the in-memory store).
    None,
    /// The async store's.
    Async(chanbind_async::postgres::CaptureListener),
    /// The sync store's.
    Sync(chanbind_sync::postgres::CaptureListener),
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Listener::None => "Listener::None",
            Listener::Async(_) => "Listener::Async",
            Listener::Sync(_) => "Listener::Sync",
        })
    }
}

impl Listener {
    /// Stops the listener; the blocking one joins its thread, off the async workers.
    pub async fn stop(self) {
        match self {
            Listener::None => {}
            Listener::Async(listener) => listener.stop(),
            Listener::Sync(listener) => {
                let _ = tokio::task::spawn_blocking(move || listener.stop()).await;
            }
        }
    }
}

/// Serves `engine` on `listen` with `adapter` until SIGINT or SIGTERM, then closes every
/// WebSocket with 1001, drains, and stops `listener`. `what` says in the "listening on"
/// line what the root path shows.
pub async fn serve_until_stopped(
    adapter: Adapter,
    listen: SocketAddr,
    engine: Engine,
    static_files: Vec<StaticFile>,
    listener: Listener,
    what: &str,
) -> Result<(), Box<dyn Error>> {
    let server = serving(static_files);
    serve_until_stopped_with(adapter, listen, engine, server, listener, what).await
}

/// The edge settings that serve `static_files`, the rest default: for
/// [`serve_until_stopped_with`], with more set on them (`.metrics(true)`, `.drain_delay(..)`).
pub fn serving(static_files: Vec<StaticFile>) -> ServerSettings {
    let mut settings = ServerSettings::default();
    settings.http.static_files = static_files;
    settings
}

/// [`serve_until_stopped`] with the whole of the edge's settings (both adapters share them).
pub async fn serve_until_stopped_with(
    adapter: Adapter,
    listen: SocketAddr,
    engine: Engine,
    server: ServerSettings,
    listener: Listener,
    what: &str,
) -> Result<(), Box<dyn Error>> {
    match adapter {
        Adapter::Async => {
            let mut config = chanbind_async::ServerConfig::default();
            config.server = server;
            let server = chanbind_async::bind(listen, engine, config).await?;
            announce(adapter, server.local_addr(), what);
            let signal = stop_signal().await?;
            tracing::info!(signal, "shutting down");
            server.shutdown().await;
        }
        // The blocking server's handle differs from the async one. `bind` only spawns
        // threads; `shutdown` joins them, off the workers.
        Adapter::Sync => {
            let mut config = chanbind_sync::ServerConfig::default();
            config.server = server;
            let server = chanbind_sync::bind(listen, engine, config)?;
            announce(adapter, server.local_addr(), what);
            let signal = stop_signal().await?;
            tracing::info!(signal, "shutting down");
            tokio::task::spawn_blocking(move || server.shutdown()).await?;
        }
    }
    listener.stop().await;
    Ok(())
}

/// The line tests and operators look for.
fn announce(adapter: Adapter, addr: SocketAddr, what: &str) {
    tracing::info!(?adapter, "listening on http://{addr}/ ({what}), ws://{addr}/ (WebSocket) and http://{addr}/api/ (HTTP API)");
}

/// Resolves on Ctrl-C or SIGTERM (what systemd, Docker and Kubernetes send to stop a
/// service), so either way the server closes its WebSockets with 1001 and drains.
pub async fn stop_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT"),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
    }
}

/// The URL without its password, for the log.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/x"),
            "postgres://app@db:5432/x"
        );
        assert_eq!(redact("host=db user=app"), "host=db user=app");
    }
}
