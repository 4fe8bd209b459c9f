//! Runnable chanbind programs and what they share.
//!
//! [`demo`] holds the demo's bindings and seed data; the `demo` binary serves them:
//!
//! ```text
//! cargo run --release -p chanbind-examples --bin demo -- --listen 127.0.0.1:8000
//! ```

pub mod adapters;
pub mod demo;
pub mod demo_page;
pub mod logging;
pub mod serve;
