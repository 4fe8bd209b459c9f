//! The blocking adapter of chanbind: one thread per connection, each driving a non-blocking
//! tungstenite WebSocket with its own mio `Poll` and `Waker`, the HTTP API on the same port
//! (routes under `/api/`, docs/protocol.md section 6), and a PostgreSQL store on the blocking
//! `postgres` crate.
//!
//! It serves the very same [`Engine`](chanbind_engine::Engine) (bindings, permissions,
//! custom events) as `chanbind-async`, with the same JSON and HTTP API; what differs is how
//! the engine starts, which store it takes, and that [`ServerHandle::shutdown`] blocks (the
//! README's "Choosing an adapter" shows both side by side). A program without tokio starts
//! its engine on an [`EngineRuntime`]:
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
//!     // Anonymous clients are refused unless allowed; this example has no authenticator.
//!     let runtime = EngineRuntime::start(Engine::builder(registry, store).allow_anonymous(true))?;
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
//! A program that accepts its own connections hands each over with [`serve_stream`], or with
//! [`serve_stream_with`] and the bytes it already read (a request head it routed by).
//!
//! # Features
//!
//! - `postgres` (default): [`postgres::PgStore`], its pool, capture listener and channel
//!   layer, on the blocking `postgres` crate. Without it the adapter serves any other
//!   [`Store`](chanbind_engine::store::Store).
//!
//! # Behaviour
//!
//! - The acceptor thread hands each TCP connection to a thread of its own, which reads HTTP/1.1
//!   request heads with `httparse`. A WebSocket handshake on [`ServerConfig::path`] becomes
//!   the WebSocket; every other request is answered by the engine's
//!   [`HttpApi`](chanbind_engine::http::HttpApi), with the same status, headers and body as on
//!   `chanbind-async` (apart from the `date`): the routes, errors, CORS, HEAD and OpenAPI
//!   document of docs/protocol.md section 6, 426 for a plain request on the WebSocket path, 404
//!   elsewhere, and refused handshakes answered like the async adapter's.
//! - HTTP connections are kept alive (HTTP/1.1, unless `Connection: close`), pipelined
//!   requests are answered in order, and bodies are read with `Content-Length` or chunked.
//!   Every wait is bounded, so a slow client costs its thread for a limited time:
//!   [`ServerConfig::header_read_timeout`] for a head and for idleness (dropped without an
//!   answer), [`ServerConfig::body_read_timeout`] for a body (408),
//!   [`ServerConfig::write_timeout`] for a response; heads over
//!   [`ServerConfig::max_header_bytes`] get 431, malformed ones 400.
//! - Frames are handled one at a time, in order; a request that needs the store or the actors
//!   runs to completion on the connection thread.
//! - Actors reach a connection through the engine's bounded `OutboundQueue` and its `Waker`,
//!   never blocking. A client that stops reading lets its queue fill; then a newer push of a
//!   watched row or live query replaces the older ones waiting, and when nothing can be merged
//!   the client is closed with 4008; no other connection notices. A frame over `max_message_bytes` is answered `too_large` and
//!   closed with 1009.
//! - [`ServerHandle::shutdown`] stops accepting, closes every WebSocket with 1001 and every
//!   idle HTTP connection, lets HTTP requests in flight finish (answered with
//!   `connection: close`), and joins every connection thread within
//!   [`ServerConfig::shutdown_grace`]. [`serve_stream`] serves
//!   one connection the application accepted itself ([`serve_stream_with`] when it already
//!   read the first bytes, to route the request); its [`ConnectionHandle`] does the same
//!   for that one thread.
//! - With `postgres::PgStore` (the `postgres` feature, on by default), database work runs on
//!   the connection thread through a pool of connections; the engine re-reads live queries on
//!   tokio's blocking threads.

mod config;
mod connection;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod outbound;
#[cfg(feature = "postgres")]
pub mod postgres;
mod runtime;
mod server;

pub use config::ServerConfig;
pub use connection::{serve_stream, serve_stream_with, ConnectionHandle};
pub use runtime::{EngineRuntime, StartError};
pub use server::{bind, serve, ServerHandle, Stopped};

// The README is the crate's page on crates.io; its examples are compiled and run as doctests
// so they keep working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
