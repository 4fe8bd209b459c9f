//! Sessions, jobs and stream actors together on the in-memory store, without sockets.

mod app;
mod batch;
mod capture;
mod changed;
mod computed;
mod custom;
mod expand;
mod fanout;
mod form;
mod hooks;
mod live;
mod permission;
mod relations;
mod request_id;
mod retrieve;
mod support;
mod upsert;
mod version;
