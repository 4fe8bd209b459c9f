//! The tokio adapter of chanbind.

pub mod postgres;
