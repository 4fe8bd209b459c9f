//! The tokio adapter of chanbind: a WebSocket server on tokio-tungstenite and the HTTP API on
//! the same port (hyper; routes under `/api/`, docs/protocol.md section 6), a tokio-postgres
//! store, and two ways to embed both in an existing tokio application: a server of its own
//! ([`bind`], [`serve`]) or a service the application mounts in its router ([`service`]).
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
//!
//! Mounted in an application, the service answers below its mount point, and the host's
//! middleware may decide who the user is
//! ([`ExtensionAuthenticator`](chanbind_engine::auth::ExtensionAuthenticator)); see
//! [`ChanbindService`].
//!
//! Features: `postgres` (default) is the [`postgres`] module; `axum` reads axum's
//! `OriginalUri` and `ConnectInfo`, so a service nested in an axum router finds its mount
//! point and its clients' addresses by itself.

mod config;
mod connection;
mod outbound;
#[cfg(feature = "postgres")]
pub mod postgres;
mod refuse;
mod server;
mod service;

pub use config::ServerConfig;
pub use server::{bind, serve, ServerHandle};
pub use service::{service, BoxError, ChanbindService, PeerAddr, ResponseBody, ResponseFuture};

// The README is the crate's page on crates.io; its examples are compiled and run as doctests
// so they keep working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
