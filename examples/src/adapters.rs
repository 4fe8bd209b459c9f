//! The README's "Choosing an adapter" code, built with the examples so it cannot rot:
//! `tests/readme_adapters.rs` checks that the README shows the code between the markers
//! verbatim.

// README: begin
use std::error::Error;
use std::sync::Arc;

use chanbind_engine::binding::Registry;
use chanbind_engine::sql::PgConfig;
use chanbind_engine::Engine;

/// tokio: the engine and the server live on the application's runtime.
pub async fn serve_async(registry: Registry, pg: PgConfig) -> Result<(), Box<dyn Error>> {
    // Store: tokio-postgres on a deadpool pool.
    let store = Arc::new(chanbind_async::postgres::PgStore::connect(pg).await?);
    // Start: the actors are tasks on this runtime; `bind` awaits the listening socket.
    let engine = Engine::builder(registry, store).start().await?;
    let server = chanbind_async::bind("127.0.0.1:8000", engine, Default::default()).await?;
    tokio::signal::ctrl_c().await?;
    // Shutdown: every WebSocket closed with 1001, connections drained; a future.
    server.shutdown().await;
    Ok(())
}

/// Threads: no tokio of the application's own, one thread per connection.
pub fn serve_sync(registry: Registry, pg: PgConfig) -> Result<(), Box<dyn Error>> {
    // Store: the blocking `postgres` crate, called on the connection threads.
    let store = Arc::new(chanbind_sync::postgres::PgStore::connect(pg)?);
    // Start: the actors on a small runtime of their own, which the connection threads enter
    // (handlers may use tokio timers); `bind` spawns threads and returns.
    let runtime = chanbind_sync::EngineRuntime::start(Engine::builder(registry, store))?;
    let server = runtime.bind("127.0.0.1:8000", Default::default())?;
    runtime.block_on(tokio::signal::ctrl_c())?;
    // Shutdown: every WebSocket closed with 1001, every connection thread joined; blocks
    // (from async code, call it inside `tokio::task::spawn_blocking`). Then the runtime.
    let stopped = server.shutdown();
    tracing::info!(joined = stopped.joined, "stopped");
    drop(runtime);
    Ok(())
}
// README: end
