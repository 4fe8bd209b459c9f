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
//! Adding the sync adapter is one more [`Adapter`] variant, a line in [`Target::ALL`] and an
//! arm in [`Target::start`] and [`Server::stop`]; the scenario files stay as they are.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};

use chanbind_async::postgres::{PgConfig, PgStore};
use chanbind_async::{ServerConfig, ServerHandle};
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
    pub const ALL: [Target; 2] = [
        Target {
            adapter: Adapter::Async,
            store: StoreKind::Memory,
        },
        Target {
            adapter: Adapter::Async,
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
                let pg = PgStore::connect(PgConfig {
                    url,
                    schema: Some(schema.clone()),
                    pool_size: 4,
                })
                .await
                .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
                let pg = Arc::new(pg);
                let guard = PgGuard {
                    store: Arc::clone(&pg),
                    schema,
                    _permit: permit,
                };
                if let Err(e) = pg.migrate(&registry).await {
                    guard.drop_schema().await;
                    return Err(format!("migrating {}: {e}", guard.schema));
                }
                (pg, Some(guard))
            }
        };
        let started = async {
            demo::seed(&registry, store.as_ref())
                .await
                .map_err(|e| format!("seeding: {e}"))?;
            let authenticator = match auth {
                Some(auth) => Some(
                    demo::ensure_users(&registry, store.as_ref(), &auth.tokens)
                        .await
                        .map_err(|e| format!("creating the token users: {e}"))?,
                ),
                None => None,
            };
            let mut builder = Engine::builder(registry, Arc::clone(&store)).limits(limits.clone());
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
}

impl Server {
    /// Where the WebSocket listens.
    pub fn addr(&self) -> SocketAddr {
        match &self.running {
            Running::Async(handle) => handle.local_addr(),
        }
    }

    /// Stops the server and the engine, and drops the trial's PostgreSQL schema.
    pub async fn stop(self) {
        match self.running {
            Running::Async(handle) => handle.shutdown().await,
        }
        self.engine.shutdown();
        if let Some(pg) = self.pg {
            pg.drop_schema().await;
        }
    }
}

/// A trial's PostgreSQL schema, to drop when the trial ends.
struct PgGuard {
    store: Arc<PgStore>,
    schema: String,
    _permit: Permit,
}

impl PgGuard {
    async fn drop_schema(&self) {
        if let Err(e) = self.store.drop_schema().await {
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
