//! The wire protocol of docs/protocol.md section 1: event names, frames, error objects and `hello`.
//!
//! Everything here is pure: text in, values out, and values in, text out. Adapters never build
//! a frame by hand; they call these functions so both runtimes speak byte-identical JSON.

pub mod close;
mod error;
mod event;
mod frame;

pub use error::{ApiError, ErrorCode};
pub use event::{EventName, EventNameError, BATCH};
pub use frame::{
    decode_inbound, encode_error, encode_reply, hello_frame, limits_json, Frame, Inbound,
};

/// The protocol version this crate speaks, sent in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The server name sent in `hello`.
pub const SERVER_NAME: &str = concat!("chanbind/", env!("CARGO_PKG_VERSION"));
