//! What hooks see of a write.

use std::sync::Arc;

use crate::auth::User;
use crate::key::Key;
use crate::value::Row;
use crate::Engine;

/// The error an after-commit hook may return; it is logged, never sent.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// One write as a before-write hook or a wrapper sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriteCall {
    /// `create`, `update`, `save` (replacing a row) or `delete`. A form's submit is the
    /// `create` or `update` it is, and so is a `save` without an id a `create`. An upsert
    /// (docs/protocol.md section 2, "Upserts"), which learns only as it writes whether it
    /// creates, is its request's `save` (or `create`, with `on_conflict`), and its values are
    /// the row it would create; what the hook returns applies to the update too.
    pub action: String,
    /// The writer, `None` when anonymous or the system.
    pub user: Option<Arc<User>>,
    /// Whether application code writes with every right (`chanbind_engine::app::Ctx::system`).
    pub system: bool,
    /// The row's key for an update, a replacing save, an upsert of a key and a delete;
    /// `None` for a create and an upsert on a unique field.
    pub key: Option<Key>,
    /// The validated values, under field names (`{"title": "t"}`); empty for a delete.
    pub values: Row,
}

/// A committed write, as [`super::Next::run`] answers it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Written {
    /// The row's key.
    pub key: Key,
    /// The row as stored now, every field included; `None` once deleted.
    pub row: Option<Row>,
}

/// A committed write as an after-commit hook sees it.
#[derive(Clone)]
#[non_exhaustive]
pub struct Committed {
    /// The action, as [`WriteCall::action`] names it; for an upsert, the `create` or
    /// `update` it turned out to be.
    pub action: String,
    /// The writer, `None` when anonymous or the system.
    pub user: Option<Arc<User>>,
    /// Whether application code wrote with every right.
    pub system: bool,
    /// The row's key (for a delete, the deleted row's).
    pub key: Key,
    /// The row as committed, every field included; `None` for a delete.
    pub row: Option<Row>,
    /// The engine, to send custom events (`send_to_group`, `broadcast`, `send_to_user`) or
    /// write through [`crate::app`].
    pub engine: Engine,
}

impl std::fmt::Debug for Committed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committed")
            .field("action", &self.action)
            .field("user", &self.user)
            .field("system", &self.system)
            .field("key", &self.key)
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}
