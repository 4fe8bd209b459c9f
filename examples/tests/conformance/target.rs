//! What a scenario runs against: an adapter serving the demo bindings over a store. Each trial
//! starts its own server on `127.0.0.1:0` with a freshly seeded store and stops it afterwards,
//! so trials share nothing and run in parallel.
//!
//! A scenario with `"auth"` gets the demo as `--token` runs it: the bindings under
//! `Policy::Enforced`, `demo::ensure_users` for its tokens (after the seed, so `admin` is id 1
//! and new names are created in name order from id 102: `alice` 102, `bob` 103), and the
//! token authenticator with anonymous connections allowed or not. Without `"auth"` it is the
//! open playground. The scenario's limits go to the engine either way.
//!
//! The matrix is every adapter over every store (the sync adapter with its blocking
//! PostgreSQL store); adding an adapter is one more [`Adapter`] variant, its lines in
//! [`Target::ALL`] and an arm in [`Target::start`] and [`Server::stop`]; the scenario files stay
//! as they are.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_async::{ServerConfig, ServerHandle};
use chanbind_engine::auth::TokenAuthenticator;
use chanbind_engine::binding::Registry;
use chanbind_engine::config::Limits;
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use chanbind_examples::demo;

use crate::scenario::AuthSetup;

/// The server side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `chanbind_async` on tokio and tokio-tungstenite.
    Async,
    /// `chanbind_sync`: a thread per connection on mio and tungstenite, with the blocking
    /// PostgreSQL store.
    Sync,
}

/// Where the rows live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The engine's in-memory store.
    Memory,
    /// PostgreSQL at `DATABASE_URL`, in a schema of its own per trial.
    Postgres,
}

/// An adapter over a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Who serves the WebSocket.
    pub adapter: Adapter,
    /// Who keeps the rows.
    pub store: StoreKind,
}

/// Whether a target's trials can run here.
pub enum Availability {
    /// Run them.
    Ready,
    /// Report them as ignored, for this reason (a developer without PostgreSQL).
    Ignored(String),
    /// Fail them with this message (CI must run every target).
    Broken(String),
}

impl Target {
    /// Every target the suite runs.
    pub const ALL: [Target; 4] = [
        Target {
            adapter: Adapter::Async,
            store: StoreKind::Memory,
        },
        Target {
            adapter: Adapter::Async,
            store: StoreKind::Postgres,
        },
        Target {
            adapter: Adapter::Sync,
            store: StoreKind::Memory,
        },
        Target {
            adapter: Adapter::Sync,
            store: StoreKind::Postgres,
        },
    ];

    /// The trial-name prefix: the store for the async adapter (`memory`, `postgres`); other
    /// adapters put their name first (`sync::memory`).
    pub fn name(&self) -> String {
        let store = match self.store {
            StoreKind::Memory => "memory",
            StoreKind::Postgres => "postgres",
        };
        match self.adapter {
            Adapter::Async => store.to_owned(),
            Adapter::Sync => format!("sync::{store}"),
        }
    }

    /// Whether this target can run: PostgreSQL needs `DATABASE_URL`, which CI must set.
    pub fn availability(&self) -> Availability {
        match self.store {
            StoreKind::Memory => Availability::Ready,
            StoreKind::Postgres => match database_url() {
                Some(_) => Availability::Ready,
                None if std::env::var("CI").as_deref() == Ok("true") => Availability::Broken(
                    "DATABASE_URL is not set, and CI=true requires the PostgreSQL trials to run; \
                     set DATABASE_URL=postgres://user@host:port/db"
                        .into(),
                ),
                None => Availability::Ignored("DATABASE_URL is not set".into()),
            },
        }
    }

    /// Starts a server with a freshly seeded store on `127.0.0.1:0`, on the current runtime:
    /// the open playground without `auth`, the enforced policy with it.
    pub async fn start(&self, auth: Option<&AuthSetup>, limits: &Limits) -> Result<Server, String> {
        let policy = match auth {
            Some(_) => demo::Policy::Enforced,
            None => demo::Policy::Open,
        };
        let registry = demo::registry_with(policy).map_err(|e| format!("demo registry: {e}"))?;
        let (store, pg): (Arc<dyn Store>, Option<PgGuard>) = match self.store {
            StoreKind::Memory => (Arc::new(MemoryStore::new(&registry)), None),
            StoreKind::Postgres => {
                let url = database_url().ok_or("DATABASE_URL is not set")?;
                let permit = PG_SLOTS.acquire();
                let schema = format!("conf_{:016x}", rand::random::<u64>());
                let config = |url| PgConfig {
                    url,
                    schema: Some(schema.clone()),
                    pool_size: 4,
                    ..Default::default()
                };
                let (store, guard): (Arc<dyn Store>, PgGuard) = match self.adapter {
                    Adapter::Async => {
                        let pg = PgStore::connect(config(url))
                            .await
                            .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
                        let pg = Arc::new(pg);
                        (
                            pg.clone(),
                            PgGuard {
                                store: PgHandle::Async(pg),
                                schema: schema.clone(),
                                _permit: permit,
                            },
                        )
                    }
                    Adapter::Sync => {
                        let config = config(url);
                        let sync_config = chanbind_sync::postgres::PgConfig {
                            url: config.url,
                            schema: config.schema,
                            pool_size: config.pool_size,
                            statement_cache_capacity: config.statement_cache_capacity,
                        };
                        // The blocking store must never run on a tokio worker.
                        let pg = tokio::task::spawn_blocking(move || {
                            chanbind_sync::postgres::PgStore::connect(sync_config)
                        })
                        .await
                        .map_err(|e| format!("connect task: {e}"))?
                        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
                        let pg = Arc::new(pg);
                        (
                            pg.clone(),
                            PgGuard {
                                store: PgHandle::Sync(pg),
                                schema: schema.clone(),
                                _permit: permit,
                            },
                        )
                    }
                };
                if let Err(e) = guard.migrate(&registry).await {
                    guard.drop_schema().await;
                    return Err(format!("migrating {}: {e}", guard.schema));
                }
                (store, Some(guard))
            }
        };
        let started = async {
            let (registry, authenticator) =
                prepare(registry, Arc::clone(&store), auth.map(|a| a.tokens.clone())).await?;
            let mut builder = Engine::builder(registry, Arc::clone(&store))
                .limits(limits.clone())
                .allow_anonymous(true);
            if let (Some(auth), Some(authenticator)) = (auth, authenticator) {
                builder = builder
                    .authenticator(authenticator)
                    .allow_anonymous(auth.anonymous);
            }
            let engine = builder.start().await.map_err(|e| format!("engine: {e}"))?;
            let running = match self.adapter {
                Adapter::Async => {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
                    let handle =
                        chanbind_async::serve(listener, engine.clone(), ServerConfig::default())
                            .map_err(|e| format!("serve: {e}"))?;
                    Running::Async(handle)
                }
                Adapter::Sync => {
                    let listener = std::net::TcpListener::bind("127.0.0.1:0")
                        .map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
                    let handle = chanbind_sync::serve(
                        listener,
                        engine.clone(),
                        chanbind_sync::ServerConfig::default(),
                    )
                    .map_err(|e| format!("serve: {e}"))?;
                    Running::Sync(handle)
                }
            };
            Ok::<_, String>((engine, running))
        }
        .await;
        match started {
            Ok((engine, running)) => Ok(Server {
                engine,
                running,
                pg,
            }),
            Err(e) => {
                if let Some(pg) = pg {
                    pg.drop_schema().await;
                }
                Err(e)
            }
        }
    }
}

/// A started server; [`stop`](Self::stop) it to free the port and drop the schema.
pub struct Server {
    engine: Engine,
    running: Running,
    pg: Option<PgGuard>,
}

enum Running {
    Async(ServerHandle),
    Sync(chanbind_sync::ServerHandle),
}

impl Server {
    /// Where the WebSocket and the HTTP API listen (the same port on both adapters).
    pub fn addr(&self) -> SocketAddr {
        match &self.running {
            Running::Async(handle) => handle.local_addr(),
            Running::Sync(handle) => handle.local_addr(),
        }
    }

    /// Stops the server and the engine, and drops the trial's PostgreSQL schema.
    pub async fn stop(self) {
        match self.running {
            Running::Async(handle) => handle.shutdown().await,
            Running::Sync(handle) => {
                // Joining connection threads blocks.
                let _ = tokio::task::spawn_blocking(move || handle.shutdown()).await;
            }
        }
        self.engine.shutdown();
        if let Some(pg) = self.pg {
            pg.drop_schema().await;
        }
    }
}

/// Seeds the store and, with tokens, creates their users; a blocking store does this on a
/// blocking thread, since it must never run on a tokio worker.
async fn prepare(
    registry: Registry,
    store: Arc<dyn Store>,
    tokens: Option<Vec<(String, String)>>,
) -> Result<(Registry, Option<TokenAuthenticator>), String> {
    let work = async move {
        demo::seed(&registry, store.as_ref())
            .await
            .map_err(|e| format!("seeding: {e}"))?;
        let authenticator = match tokens {
            Some(tokens) => Some(
                demo::ensure_users(&registry, store.as_ref(), &tokens)
                    .await
                    .map_err(|e| format!("creating the token users: {e}"))?,
            ),
            None => None,
        };
        Ok::<_, String>((registry, authenticator))
    };
    tokio::task::spawn_blocking(move || futures_executor::block_on(work))
        .await
        .map_err(|e| format!("seeding task: {e}"))?
}

/// A trial's PostgreSQL store, of the adapter's own kind.
enum PgHandle {
    Async(Arc<PgStore>),
    Sync(Arc<chanbind_sync::postgres::PgStore>),
}

/// A trial's PostgreSQL schema, to drop when the trial ends.
struct PgGuard {
    store: PgHandle,
    schema: String,
    _permit: Permit,
}

impl PgGuard {
    async fn migrate(&self, registry: &Registry) -> Result<(), String> {
        match &self.store {
            PgHandle::Async(pg) => pg.migrate(registry).await.map_err(|e| e.to_string()),
            PgHandle::Sync(pg) => {
                let (pg, registry) = (Arc::clone(pg), registry.clone());
                tokio::task::spawn_blocking(move || pg.migrate(&registry))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn drop_schema(&self) {
        let result = match &self.store {
            PgHandle::Async(pg) => pg.drop_schema().await.map_err(|e| e.to_string()),
            PgHandle::Sync(pg) => {
                let pg = Arc::clone(pg);
                match tokio::task::spawn_blocking(move || pg.drop_schema()).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        if let Err(e) = result {
            eprintln!("warning: could not drop schema {}: {e}", self.schema);
        }
    }
}

fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// Bounds the PostgreSQL trials running at once, so `--test-threads=64` does not exhaust the
/// server's connections (each trial's pool holds up to 4).
static PG_SLOTS: Slots = Slots::new(8);

struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Permit;

impl Slots {
    const fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    fn acquire(&'static self) -> Permit {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *PG_SLOTS.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        PG_SLOTS.freed.notify_one();
    }
}
