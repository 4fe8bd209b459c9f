//! Hooks around a model binding's writes: before the write, after its commit, and wrappers
//! that replace a built-in write action while still calling it.
//!
//! Hooks live in the engine's write path, so they run for every write whichever way it came:
//! a WebSocket frame, an HTTP request, a form submit (a create or an update) or the typed
//! API of [`crate::app`], on either adapter. For one write they run in this order:
//!
//! 1. the wrapper of its action ([`ModelBinding::wrap`]), if any, which calls [`Next::run`];
//! 2. every before-write hook ([`ModelBinding::before_write`]), in the order added: each
//!    sees the values the one before returned, and may change them or refuse the write;
//! 3. the built-in write: the row scope check, the store, the writer's reply, the pushes;
//! 4. every after-commit hook ([`ModelBinding::after_commit`]), once the reply is queued.
//!
//! Values a hook sets are not validated again (a hook may set a field clients may not write,
//! such as a slug), but each must be a field of the binding: an unknown one fails the write
//! as `internal` and is logged, since it is a bug of the hook. A hook that panics fails the
//! write as `internal` too (after commit, it is logged). Nothing here changes the wire.
//!
//! In a `batch` each step runs its wrapper and before-write hooks inside the batch's
//! transaction, and the after-commit hooks run once the whole batch has committed. A
//! before-write hook must not write or read through the engine itself (`engine.model(..)`)
//! while a batch runs: its call is not part of the batch's transaction, and on the in-memory
//! store it would wait for the batch to end, which waits for the hook. Such a call is refused
//! (`internal`, logged), failing the step: do that work after commit.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use chanbind_engine::binding::{Field, ModelBinding};
//! use chanbind_engine::protocol::ApiError;
//! use serde_json::json;
//!
//! let tasks = ModelBinding::new("todo_task")
//!     .field(Field::string("title").required())
//!     .field(Field::string("slug").read_only())
//!     // Titles are stored trimmed; "later" is refused.
//!     .before_write(|mut call| async move {
//!         if let Some(title) = call.values.get("title").and_then(|t| t.as_str()) {
//!             if title.trim() == "later" {
//!                 let why = vec!["do it now".to_owned()];
//!                 return Err(ApiError::invalid(BTreeMap::from([("title".to_owned(), why)])));
//!             }
//!             let trimmed = title.trim().to_owned();
//!             call.values.insert("title".into(), json!(trimmed));
//!         }
//!         Ok(call.values)
//!     })
//!     // A create sets the slug, then creates as the built-in does.
//!     .wrap("create", |mut call, next| async move {
//!         let slug = call.values["title"].as_str().unwrap_or("").to_lowercase().replace(' ', "-");
//!         call.values.insert("slug".into(), json!(slug));
//!         next.run(call.values).await
//!     })
//!     // Tell everyone on the stream; an error here is logged, the write stands.
//!     .after_commit(|done| async move {
//!         if let Some(row) = &done.row {
//!             done.engine.broadcast("todo.Task", "written", &json!({"id": row["id"]}));
//!         }
//!         Ok(())
//!     });
//! # let _ = tasks;
//! ```

mod call;
mod next;

pub use call::{Committed, HookError, WriteCall, Written};
pub use next::Next;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::ModelBinding;
use crate::protocol::ApiError;
use crate::value::Row;

/// The write actions a wrapper may replace.
pub const WRITE_ACTIONS: [&str; 4] = ["create", "update", "save", "delete"];

/// A before-write hook: the new values, or the refusal.
pub(crate) type BeforeFn =
    Arc<dyn Fn(WriteCall) -> BoxFuture<'static, Result<Row, ApiError>> + Send + Sync>;
/// An after-commit hook.
pub(crate) type AfterFn =
    Arc<dyn Fn(Committed) -> BoxFuture<'static, Result<(), HookError>> + Send + Sync>;
/// A wrapper of a built-in write action.
pub(crate) type WrapFn =
    Arc<dyn Fn(WriteCall, Next) -> BoxFuture<'static, Result<Written, ApiError>> + Send + Sync>;

/// The hooks of one binding.
#[derive(Clone, Default)]
pub struct Hooks {
    pub(crate) before: Vec<BeforeFn>,
    pub(crate) after: Vec<AfterFn>,
    pub(crate) wrappers: BTreeMap<String, WrapFn>,
}

impl Hooks {
    /// Whether the binding has no hook at all.
    pub fn is_empty(&self) -> bool {
        self.before.is_empty() && self.after.is_empty() && self.wrappers.is_empty()
    }

    /// The actions that have a wrapper.
    pub fn wrapped_actions(&self) -> impl Iterator<Item = &str> {
        self.wrappers.keys().map(String::as_str)
    }

    pub(crate) fn wrapper(&self, action: &str) -> Option<&WrapFn> {
        self.wrappers.get(action)
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("before_write", &self.before.len())
            .field("after_commit", &self.after.len())
            .field("wraps", &self.wrappers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ModelBinding {
    /// The binding's hooks around writes.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    fn hooks_mut(&mut self) -> &mut Hooks {
        &mut self.hooks
    }

    /// Adds a hook that runs before each write of the binding (`create`, `update`, `save`,
    /// `delete`, and a form's submit as the create or update it is), after validation and
    /// the permission pipeline, before the store. It gets the [`WriteCall`] and returns the
    /// values to write, changed or not; or refuses the write with any [`ApiError`], which the
    /// writer gets as its reply: [`ApiError::invalid`] naming the bad fields, or
    /// [`crate::permission::refusal`]'s `permission_denied`. For a delete the values are
    /// empty and what it returns is ignored. Hooks added earlier run first.
    pub fn before_write<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(WriteCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Row, ApiError>> + Send + 'static,
    {
        self.hooks_mut()
            .before
            .push(Arc::new(move |call| Box::pin(hook(call))));
        self
    }

    /// Adds a hook that runs after each committed write of the binding, once the writer's
    /// reply is queued: it sees the new row (or the deleted key) in [`Committed`], and may
    /// send custom events through [`Committed::engine`] (`send_to_group`, `broadcast`,
    /// `send_to_user`). It cannot fail the write: an error it returns is logged. The request
    /// completes when its after-commit hooks have, so keep them short or spawn the slow part.
    pub fn after_commit<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Committed) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.hooks_mut()
            .after
            .push(Arc::new(move |done| Box::pin(hook(done))));
        self
    }

    /// Replaces the built-in write `action` (one of [`WRITE_ACTIONS`]; the registry refuses
    /// any other; `create` covers form submits and `save`s that make a new row, `update` a
    /// form's submit for an existing one, `save` a replacing save and an upsert (docs/protocol.md section 2, "Upserts"), `create` a
    /// create with `on_conflict`) with `wrapper`, which gets the [`WriteCall`] and a [`Next`] that runs the
    /// built-in one (before-write hooks, the store, the reply, the pushes) with the values it
    /// is given. What the wrapper returns is the outcome: an error it returns without having
    /// run `next` is the writer's reply; once `next` committed, the writer already has its
    /// reply, and a later error is only logged. A second wrapper of the same action replaces
    /// the first.
    pub fn wrap<F, Fut>(mut self, action: &str, wrapper: F) -> Self
    where
        F: Fn(WriteCall, Next) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Written, ApiError>> + Send + 'static,
    {
        self.hooks_mut().wrappers.insert(
            action.to_owned(),
            Arc::new(move |call, next| Box::pin(wrapper(call, next))),
        );
        self
    }
}
