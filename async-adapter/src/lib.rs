//! The tokio adapter of chanbind: a WebSocket server on tokio-tungstenite and the HTTP API on
//! the same port (hyper; routes under `/api/`, docs/protocol.md section 6), a tokio-postgres store,
//! and a handle to embed both in an existing tokio application.
//!
//! ```no_run
//! use std::sync::Arc;
//! use chanbind_engine::binding::{Field, ModelBinding, Registry};
//! use chanbind_engine::config::Limits;
//! use chanbind_engine::store::MemoryStore;
//! use chanbind_engine::Engine;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::new().model(
//!     ModelBinding::new("todo_task")
//!         .field(Field::string("title").required().max_length(200))
//!         .field(Field::boolean("done").default(false)),
//! )?;
//! let store = Arc::new(MemoryStore::new(&registry));
//! let engine = Engine::start(registry, store, Limits::default()).await?;
//! let server = chanbind_async::bind("127.0.0.1:8000", engine, Default::default()).await?;
//! // ... later
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod connection;
mod outbound;
pub mod postgres;
mod refuse;
mod server;
mod service;
mod upgrade;

pub use server::{bind, serve, ServerConfig, ServerHandle};
