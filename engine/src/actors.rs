//! The actors: one [`StreamActor`] per binding fans changes out to the
//! subscriptions they touch, and [`GroupActor`]s hold the connections that
//! group sends and broadcasts reach.
//!
//! Each is a ractor triplet (actor, state, message enum). Adapters and jobs reach them with
//! `send_message`, a plain function usable from any thread; handlers never block and never do
//! I/O beyond queueing frames on [`Outbound`](crate::outbound::Outbound)s.

pub mod group;
pub mod stream;

pub use group::{GroupActor, GroupMsg};
pub use stream::{StreamActor, StreamMsg};
