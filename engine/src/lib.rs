//! The runtime-agnostic core of chanbind.
//!
//! chanbind binds database tables to a realtime JSON API over WebSocket and HTTP. This crate
//! holds everything its two adapters share: the wire [`protocol`], [`binding`]s and their
//! registry, the [`filter`] model, write [`validate`]ion, the per-connection [`session`], the
//! stream and group actors, the [`store`] interface with the embedded in-memory store, and
//! the [`change`] model. It does no socket I/O of its own: adapters feed it frames and carry
//! out what it asks, the way `quinn-proto` is driven by `quinn`.

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
pub mod http;
pub mod key;
pub mod layer;
pub(crate) mod live;
pub(crate) mod locks;
pub mod origin;
pub mod outbound;
pub mod permission;
pub mod protocol;
pub(crate) mod query;
pub(crate) mod rate;
pub mod relation;
pub mod session;
pub mod sql;
pub mod stats;
pub mod store;
pub mod validate;
pub mod value;

pub use engine::{Admitted, ChangeSet, ChangedError, Engine, EngineBuilder, EngineError};
pub use origin::AllowedOrigins;
