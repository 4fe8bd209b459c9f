//! The PostgreSQL store answers every op exactly as the in-memory store, the reference.
//!
//! Each test runs the same ops on `MemoryStore` and `PgStore` and asserts equal outputs. Ops
//! are built the way the engine builds them: values through `validate_write`, filters through
//! `parse_filter`, order through `Ordering::parse`.
//!
//! Needs a PostgreSQL server: `scripts/test -p chanbind-async --test store_parity`. Without
//! `DATABASE_URL` the tests pass with a notice, except under `CI=true`, where they fail. Each test works in its own schema, dropped after.

// The filter cases are one `json!` list, deeper than the default limit.
#![recursion_limit = "512"]

mod expand;
mod keys;
mod kinds;
mod reads;
mod relations;
mod statements;
mod support;
mod upsert;
mod values;
mod writes;
