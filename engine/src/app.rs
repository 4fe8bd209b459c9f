//! Writing and reading from application code: the same requests a client makes, through the
//! same pipeline, from Rust.
//!
//! [`Engine::model`] gives a cheap handle on one stream. Each of its calls runs as one
//! request through a one-request session, exactly as an HTTP request does
//! (docs/protocol.md sections 2 and 6): validation, the permission pipeline of the
//! [`Ctx`] it runs as, the binding's hooks, the no-gap locks, and the publish that pushes the
//! change to WebSocket subscribers (and, through the layer, to other nodes). The calls take
//! and return JSON (`serde_json`), or with the `_as` variants any `serde` type.
//!
//! A call runs as a user ([`Ctx::user`]), as nobody ([`Ctx::anonymous`]), or as the system
//! ([`Ctx::system`]) with every right: no permission check refuses it, no row scope narrows
//! it, nothing is hidden or read-only by permission; validation and the binding's own
//! read-only fields still apply. Reads never subscribe: the handle has no connection to push
//! to. A failure is an [`AppError`] carrying the code, message and fields a client would get.
//!
//! ```
//! use std::sync::Arc;
//!
//! use chanbind_engine::app::{AppError, Ctx};
//! use chanbind_engine::auth::User;
//! use chanbind_engine::binding::{Field, ModelBinding, Registry};
//! use chanbind_engine::protocol::ErrorCode;
//! use chanbind_engine::store::MemoryStore;
//! use chanbind_engine::Engine;
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Task {
//!     #[serde(skip_serializing_if = "Option::is_none")]
//!     id: Option<i64>,
//!     title: String,
//!     done: bool,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), AppError> {
//! let registry = Registry::new()
//!     .model(
//!         ModelBinding::new("todo_task")
//!             .field(Field::string("title").required().max_length(20))
//!             .field(Field::boolean("done").default(false)),
//!     )
//!     .unwrap();
//! let store = Arc::new(MemoryStore::new(&registry));
//! let engine = Engine::start(registry, store, Default::default()).await.unwrap();
//!
//! let ctx = Ctx::user(User::new(7, "ada"));
//! let task = Task { id: None, title: "write docs".into(), done: false };
//! let task = engine.model("todo.Task").create_as::<Task>(&ctx, task).await?;
//! assert_eq!(task.id, Some(1));
//!
//! let tasks = engine.model("todo.Task");
//! let done = tasks.update(&Ctx::system(), 1, json!({"done": true})).await?;
//! assert_eq!(done["done"], true);
//! let page = tasks.search_as::<Task>(&ctx, json!({"filters": {"done": true}})).await?;
//! assert_eq!((page.count, page.rows[0].title.as_str()), (1, "write docs"));
//!
//! let refused = tasks.create(&ctx, json!({"title": ""})).await.unwrap_err();
//! assert_eq!(refused.code(), ErrorCode::Invalid);
//! assert!(refused.fields().contains_key("title"));
//! # Ok(())
//! # }
//! ```
//!
//! # From blocking code
//!
//! The calls are futures and need the engine's tokio runtime. A blocking program on the sync
//! adapter runs them on the runtime its engine was started on, with
//! `chanbind_sync::EngineRuntime::block_on`:
//!
//! ```text
//! let runtime = chanbind_sync::EngineRuntime::start(builder)?;
//! let engine = runtime.engine();
//! let task = runtime.block_on(engine.model("todo.Task").create(&Ctx::system(), json!({"title": "t"})))?;
//! ```
//!
//! Do not call `block_on` from inside an async task (a handler, a hook): await instead.

mod ctx;
mod error;
mod model;
mod page;
mod typed;

pub use ctx::Ctx;
pub use error::AppError;
pub use model::Model;
pub use page::Page;

use crate::Engine;

impl Engine {
    /// A handle on the stream `stream` (`"todo.Task"`) for application code. Cheap: it holds
    /// the engine and the name. A stream no binding serves is only refused when a call is
    /// made, with `unknown_event`, as a client's request would be.
    pub fn model(&self, stream: &str) -> Model {
        Model::new(self.clone(), stream)
    }
}
