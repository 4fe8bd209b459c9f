//! A small private tokio runtime for the engine's actors, for programs that have no tokio of
//! their own: the way the `postgres` crate drives `tokio-postgres`.

use std::future::Future;
use std::io;
use std::net::{TcpListener, ToSocketAddrs};
use std::time::Duration;

use chanbind_engine::{Engine, EngineBuilder, EngineError};
use tokio::runtime::{Builder, Handle, Runtime};

use crate::{ServerConfig, ServerHandle};

/// How long dropping an [`EngineRuntime`] waits for the runtime's tasks (live-query refreshes
/// on blocking threads, say) to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Why an [`EngineRuntime`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The runtime's threads could not be made.
    #[error("cannot start the engine's runtime: {0}")]
    Runtime(#[from] io::Error),
    /// The engine refused its bindings, or an actor failed to start.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// An [`Engine`] whose actors run on a runtime of their own, for blocking programs.
///
/// The runtime has few workers (actors do no blocking I/O; connection threads do the real
/// work) and lives as long as this value: dropping it stops the actors and then the runtime,
/// so shut servers down first.
///
/// ```no_run
/// use std::sync::Arc;
/// use chanbind_engine::binding::{Field, ModelBinding, Registry};
/// use chanbind_engine::store::MemoryStore;
/// use chanbind_engine::Engine;
/// use chanbind_sync::EngineRuntime;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = Registry::new().model(ModelBinding::new("todo_task").field(Field::string("title")))?;
/// let store = Arc::new(MemoryStore::new(&registry));
/// // Anonymous clients are refused unless allowed; this example has no authenticator.
/// let runtime = EngineRuntime::start(Engine::builder(registry, store).allow_anonymous(true))?;
/// let server = runtime.bind("127.0.0.1:8000", Default::default())?;
/// // ... later
/// server.shutdown();
/// # Ok(()) }
/// ```
pub struct EngineRuntime {
    engine: Engine,
    runtime: Option<Runtime>,
}

impl EngineRuntime {
    /// Starts the engine on a new runtime with two workers.
    pub fn start(builder: EngineBuilder) -> Result<EngineRuntime, StartError> {
        EngineRuntime::with_workers(builder, 2)
    }

    /// Starts the engine on a new runtime with `workers` worker threads (at least 1).
    pub fn with_workers(
        builder: EngineBuilder,
        workers: usize,
    ) -> Result<EngineRuntime, StartError> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name("chanbind-engine")
            .enable_all()
            .build()?;
        // `Runtime::block_on` panics on a thread that is already inside a runtime, so the
        // start runs on a thread of its own: this works from anywhere.
        let rt = &runtime;
        let engine = std::thread::scope(|scope| {
            scope
                .spawn(move || rt.block_on(builder.start()))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        Ok(EngineRuntime {
            engine,
            runtime: Some(runtime),
        })
    }

    /// The engine; clones are cheap.
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// The runtime the actors run on.
    pub fn handle(&self) -> &Handle {
        self.runtime().handle()
    }

    /// Runs a future to completion on the calling thread, with this runtime's context
    /// entered so tokio timers and spawns work in it. Unlike `Runtime::block_on` it may call a
    /// blocking store such as `chanbind_sync::postgres::PgStore`.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _context = self.handle().enter();
        futures_executor::block_on(future)
    }

    /// [`crate::bind`] with this engine; the connection threads enter this runtime's context.
    pub fn bind(&self, addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<ServerHandle> {
        crate::bind(addr, self.engine(), self.with_runtime(config))
    }

    /// [`crate::serve`] with this engine; the connection threads enter this runtime's context.
    pub fn serve(&self, listener: TcpListener, config: ServerConfig) -> io::Result<ServerHandle> {
        crate::serve(listener, self.engine(), self.with_runtime(config))
    }

    fn with_runtime(&self, mut config: ServerConfig) -> ServerConfig {
        config.runtime.get_or_insert_with(|| self.handle().clone());
        config
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }
}

impl std::fmt::Debug for EngineRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineRuntime")
            .field("store", &self.engine.store_kind())
            .finish_non_exhaustive()
    }
}

impl Drop for EngineRuntime {
    fn drop(&mut self) {
        self.engine.shutdown();
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        // Waiting for the runtime is not allowed from inside another one.
        if Handle::try_current().is_ok() {
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(SHUTDOWN_WAIT);
        }
    }
}
