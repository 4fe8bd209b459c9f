//! The core of chanbind: bindings, the protocol, permissions, hooks and the stream actors
//! that both adapters (`chanbind-async` on tokio, `chanbind-sync` on threads) serve.
//!
//! chanbind binds database tables to a realtime JSON API over WebSocket and HTTP. Clients
//! retrieve, search, list, create, update, save and delete rows, and every client looking at
//! a row or a live query gets a push when it changes. The wire protocol is
//! `docs/protocol.md` in the repository; this crate does no socket I/O of its own: adapters
//! feed it frames and carry out what it asks, the way `quinn-proto` is driven by `quinn`.
//!
//! # A first engine
//!
//! A table bound with a computed field and a hook, a client session watching a row, and a
//! write from application code that reaches it:
//!
//! ```
//! use std::sync::Arc;
//!
//! use chanbind_engine::app::Ctx;
//! use chanbind_engine::auth::User;
//! use chanbind_engine::binding::{Computed, Field, FieldKind, ModelBinding, Registry};
//! use chanbind_engine::outbound::Outbound;
//! use chanbind_engine::protocol::Frame;
//! use chanbind_engine::session::Step;
//! use chanbind_engine::store::MemoryStore;
//! use chanbind_engine::Engine;
//! use serde_json::{json, Value};
//! use tokio::sync::mpsc;
//!
//! /// Where a session's frames go: a WebSocket in an adapter, a channel here.
//! struct Channel(mpsc::UnboundedSender<Frame>);
//! impl Outbound for Channel {
//!     fn send(&self, frame: Frame) -> bool {
//!         self.0.send(frame).is_ok()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tasks = ModelBinding::new("todo_task")
//!     .field(Field::string("title").required().max_length(200))
//!     .field(Field::boolean("done").default(false))
//!     .field(Field::integer("owner_id"))
//!     // Computed for each reader, at push time too.
//!     .computed(Computed::new("is_mine", FieldKind::Boolean, |row, user| {
//!         json!(user.is_some_and(|u| row.get("owner_id") == Some(&json!(u.id))))
//!     }))
//!     // Titles are stored trimmed, whoever writes them.
//!     .before_write(|mut call| async move {
//!         if let Some(Value::String(title)) = call.values.get_mut("title") {
//!             *title = title.trim().to_owned();
//!         }
//!         Ok(call.values)
//!     });
//! let registry = Registry::new().model(tasks)?;
//! let store = Arc::new(MemoryStore::new(&registry));
//! let engine = Engine::builder(registry, store).allow_anonymous(true).start().await?;
//!
//! // Application code creates a row as the system, with every right.
//! let created = engine
//!     .model("todo.Task")
//!     .create(&Ctx::system(), json!({"title": "  ship it ", "owner_id": 7}))
//!     .await?;
//! assert_eq!(created["title"], "ship it");
//!
//! // User 7's connection retrieves it, and so watches it.
//! let (tx, mut frames) = mpsc::unbounded_channel();
//! let mut session = engine.open_session(Some(User::new(7, "ada")), Arc::new(Channel(tx)));
//! let request = r#"{"event": "todo.Task.retrieve", "data": {"id": 1}}"#;
//! match session.handle_text(request) {
//!     Step::Run(job) => job.run().await,
//!     Step::Reply(frame) => panic!("{}", frame.as_str()),
//! }
//! let reply: Value = serde_json::from_str(frames.recv().await.unwrap().as_str())?;
//! assert_eq!(reply["data"]["is_mine"], true);
//!
//! // A write from application code pushes to every client watching the row.
//! engine.model("todo.Task").update(&Ctx::system(), 1, json!({"done": true})).await?;
//! let push: Value = serde_json::from_str(frames.recv().await.unwrap().as_str())?;
//! assert_eq!(push["event"], "todo.Task.retrieve");
//! assert_eq!(push["data"]["done"], true);
//! # Ok(())
//! # }
//! ```
//!
//! In a real program an adapter owns the sessions: `chanbind_async::bind(addr, engine,
//! config)` serves WebSocket and HTTP on one port, and the crate-level documentation of each
//! adapter shows how to start, stop and embed it.
//!
//! # Binding tables
//!
//! A [`binding::ModelBinding`] names a table, its key ([`binding::ModelBinding::key`]: an
//! integer, UUID or text column of any name) and its [`binding::Field`]s; a
//! [`binding::Registry`] holds every binding a server answers. A PostgreSQL store can also
//! describe an existing table from its catalog (`PgStore::introspect`), and declared
//! bindings are checked against their tables when the engine starts
//! ([`store::Store::check_schema`]). Foreign keys become relations clients expand, include
//! and filter through ([`relation`], [`expand`]). Streams without a table carry custom events
//! ([`binding::CustomBinding`]).
//!
//! # Serving
//!
//! [`Engine::start`] or [`Engine::builder`] starts the stream and group actors on the current
//! tokio runtime with a [`store::Store`]: [`store::MemoryStore`] embedded, or the PostgreSQL
//! store of either adapter. Then an adapter serves it: `chanbind_async::bind` or
//! `chanbind_sync::bind` on a port of their own, `chanbind_async::service` as a
//! `tower::Service` mounted in an application's router, `chanbind_sync::serve_stream_with`
//! for a connection a blocking program accepted itself. Several nodes share changes through a
//! [`layer::Layer`]; writes made outside chanbind reach clients through capture triggers
//! ([`capture`]) or a call to [`Engine::changed`].
//!
//! # Embedding
//!
//! - Identity: authenticators ([`auth::Authenticator`]) turn a handshake or an HTTP request
//!   into a [`auth::User`]: a token map ([`auth::TokenAuthenticator`]), a JWT verified with a
//!   secret or a JWKS document (`auth::JwtAuthenticator`, the `jwt` feature), or the user the
//!   host application's own middleware put in the request's extensions.
//! - Application code reads and writes through [`Engine::model`] ([`app`]): the same
//!   validation, permissions, hooks and pushes as a client's request, as a user or as the
//!   system, with JSON or any `serde` type.
//! - Rows the application wrote with its own SQL are announced with [`Engine::changed`],
//!   [`Engine::created`] or [`Engine::publish_changed`]: re-read and pushed on every node.
//! - Blocking programs run these futures with `chanbind_sync::EngineRuntime::block_on`.
//!
//! # Permissions
//!
//! A binding's [`permission::Permission`] decides whether a request runs, which rows it may
//! touch (a row scope ANDed into every read, write, subscription and push), which fields a
//! user never sees and which it may not write. Replies and pushes are rendered through the
//! resulting view, per reader, so nothing hidden leaves the engine.
//!
//! # Hooks and computed fields
//!
//! [`binding::ModelBinding::before_write`] may change or refuse a write,
//! [`binding::ModelBinding::after_commit`] sees the committed row, and
//! [`binding::ModelBinding::wrap`] replaces a built-in write while still calling it; all run
//! for WebSocket, HTTP and application writes alike (see [`binding::Hooks`]).
//! [`binding::Computed`] fields are read-only values computed from the row and its reader.
//!
//! # Traces
//!
//! Every WebSocket connection, request, store call and fan-out runs in a `tracing` span
//! ([`trace`] lists them and their fields), so a subscriber in the host application, an
//! OpenTelemetry layer say, gets one trace per request.

// Layers, lowest first; a module uses only those below it: `layer` (messages between nodes),
// `capture` (notices and batches of outside writes), `render`, `expand` and `query` (what a
// client sees and how live queries read), `actors` (streams and groups), `engine` (the
// shared core that starts the actors and publishes), `session` (a connection's requests,
// which also opens sessions on the engine), then `http` and `app`. The data model beneath
// them rests on `kind` (field kinds) < `key` < `value`; `binding`, `filter`, `permission`,
// `store` and `sql` still form one knot, and custom event handlers and hooks in `binding`
// take the engine. `trace` (span names and fields) is in the knot with `store`, whose ops it
// names and which opens its spans.

pub(crate) mod actors;
pub(crate) mod admission;
pub mod app;
#[cfg(test)]
mod arbitrary;
pub mod auth;
pub mod binding;
pub mod capture;
pub mod change;
pub mod config;
pub mod engine;
#[cfg(any(test, feature = "fuzzing"))]
mod every_kind;
pub mod expand;
pub mod filter;
pub mod form;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod health;
pub mod http;
pub(crate) mod idempotency;
pub mod key;
pub mod kind;
pub mod layer;
pub(crate) mod live;
pub(crate) mod locks;
pub mod metrics;
pub mod origin;
pub mod outbound;
pub mod permission;
pub mod protocol;
pub(crate) mod query;
pub(crate) mod rate;
pub mod relation;
pub mod render;
pub mod session;
pub mod sql;
pub mod stats;
pub mod store;
pub mod trace;
pub mod validate;
pub mod value;
pub mod version;

pub use engine::{Admitted, ChangeSet, ChangedError, Engine, EngineBuilder, EngineError};
pub use origin::AllowedOrigins;

// The README is the crate's page on crates.io; its examples are compiled and run as doctests
// so they keep working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
