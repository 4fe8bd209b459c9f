//! The blocking adapter of chanbind: one thread per connection, each driving a non-blocking
//! tungstenite WebSocket with its own mio `Poll` and `Waker`, and a PostgreSQL store on the
//! blocking `postgres` crate.
//!
//! It serves the very same [`Engine`](chanbind_engine::Engine) (bindings, permissions,
//! custom events) as `chanbind-async`, with the same functions, so a program switches adapters
//! by one line. A program without tokio starts its engine on an [`EngineRuntime`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use chanbind_engine::binding::{Field, ModelBinding, Registry};
//! use chanbind_engine::store::MemoryStore;
//! use chanbind_engine::Engine;
//! use chanbind_sync::EngineRuntime;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let registry = Registry::new().model(
//!         ModelBinding::new("todo_task")
//!             .field(Field::string("title").required().max_length(200))
//!             .field(Field::boolean("done").default(false)),
//!     )?;
//!     let store = Arc::new(MemoryStore::new(&registry)); // or chanbind_sync::postgres::PgStore
//!     let runtime = EngineRuntime::start(Engine::builder(registry, store))?;
//!     let server = chanbind_sync::bind("127.0.0.1:8000", runtime.engine(), Default::default())?;
//!     // ... later: closes every connection with 1001 and joins every connection thread
//!     server.shutdown();
//!     Ok(())
//! }
//! ```
//!
//! An application that already runs tokio starts the engine there
//! (`Engine::start(...).await`) and passes it to [`bind`] or [`serve`] just the same; those
//! only spawn threads and return, so they may be called from async code. [`ServerHandle::shutdown`]
//! blocks: call it from `tokio::task::spawn_blocking` there.
//!
//! # Behaviour
//!
//! - The acceptor thread hands each TCP connection to a thread of its own. The handshake runs
//!   there, resumed whenever the socket is ready and bounded by
//!   [`ServerConfig::handshake_timeout`]; other paths than [`ServerConfig::path`] get 404,
//!   refused authentication 401 (or 503), exactly as on the async adapter.
//! - Frames are handled one at a time, in order; a request that needs the store or the actors
//!   runs to completion on the connection thread.
//! - Actors reach a connection through a bounded crossbeam channel and its `Waker`, never
//!   blocking. A client that stops reading lets its queue fill and is closed with 4008; no
//!   other connection notices. A frame over `max_message_bytes` is answered `too_large` and
//!   closed with 1009.
//! - [`ServerHandle::shutdown`] stops accepting, closes every connection with 1001, and joins
//!   every connection thread within [`ServerConfig::shutdown_grace`]. [`serve_stream`] serves
//!   one connection the application accepted itself; its [`ConnectionHandle`] does the same
//!   for that one thread.
//! - With [`postgres::PgStore`], database work runs on the connection thread through a pool of
//!   connections; the engine re-reads live queries on tokio's blocking threads.

mod config;
mod connection;
mod outbound;
pub mod postgres;
mod runtime;
mod server;

pub use config::ServerConfig;
pub use connection::{serve_stream, ConnectionHandle};
pub use runtime::{EngineRuntime, StartError};
pub use server::{bind, serve, ServerHandle, Stopped};
