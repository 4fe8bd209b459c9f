//! The sync adapter over real sockets on `127.0.0.1`: one test binary, one module per theme
//! (the WebSocket protocol, HTTP, robustness, the runtime, scale, PostgreSQL, the transport,
//! connections the application accepted and handed over).
//!
//! ```text
//! cargo test -p chanbind-sync --test suite
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/chanbind_test cargo test -p chanbind-sync --test suite postgres
//! ```
//!
//! The PostgreSQL tests skip with a notice when `DATABASE_URL` is unset, and fail when `CI`
//! is `true`. Each uses a schema of its own, dropped afterwards.

mod app;
mod batch;
#[cfg(feature = "postgres")]
mod changed;
mod common;
mod computed;
mod http;
mod limits;
mod metrics;
#[cfg(feature = "postgres")]
mod postgres;
mod protocol;
mod robustness;
mod runtime;
mod scale;
mod stream;
mod transport;
#[cfg(feature = "postgres")]
mod upsert;
mod version;
