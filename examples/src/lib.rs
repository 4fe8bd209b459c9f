//! Runnable chanbind programs and what they share.
//!
//! [`demo`] holds the demo's bindings and seed data; the `demo` binary serves them:
//!
//! ```text
//! cargo run --release -p chanbind-examples --bin demo -- --listen 127.0.0.1:8000
//! ```
//!
//! [`config_file`] reads a server's settings from flags, the environment and a TOML file
//! with one clap struct, and [`startup`] says in one line why a server could not start.

pub mod adapters;
pub mod config_file;
pub mod demo;
pub mod demo_page;
pub mod logging;
pub mod serve;
pub mod startup;
