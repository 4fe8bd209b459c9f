//! The op of an upsert (docs/protocol.md section 2, "Upserts"): an insert that becomes an
//! update of the row already holding the same value of the key or of a unique field, in one
//! atomic step of the store.

use std::sync::Arc;

use serde_json::Value;

use crate::binding::ModelBinding;
use crate::change::Change;
use crate::filter::Filter;
use crate::key::Key;
use crate::value::Row;

/// Insert `insert`, or, when a row already holds `value` in `target`, set `update` on it; both
/// at once, so no other writer can slip between the look and the write.
///
/// The engine decides beforehand what the writer may do: `insert` is `None` when it may not
/// create, `update` when it may not update. It also holds the row lock of the one row the
/// update may touch (`holding`), so that its push leaves in commit order; a row holding the
/// value that is not that one (another writer created it or gave it the value meanwhile) is
/// left alone, and the engine tries again.
#[derive(Debug, Clone)]
pub struct Upsert {
    /// The binding.
    pub binding: Arc<ModelBinding>,
    /// The field whose value names the row: a unique field, or the key (`id`) of a binding
    /// whose clients give keys (a key the database generates is never inserted, so it
    /// cannot conflict).
    pub target: String,
    /// Its value (never null: a null holds no unique value).
    pub value: Value,
    /// The row to insert when none holds the value (it holds `value` in `target`); `None`
    /// when the writer may not create.
    pub insert: Option<Row>,
    /// The columns to set on the row that holds the value; `None` when the writer may not
    /// update.
    pub update: Option<Row>,
    /// The writer's row scope for the update: a row outside it is not updated.
    pub scope: Filter,
    /// The only row the update may touch; `None` when none may be.
    pub holding: Option<Key>,
}

/// What an [`Upsert`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    /// The row that held the value when the op ran, before it wrote, if any.
    pub existing: Option<Key>,
    /// The committed change, `Created` or `Updated`; `None` when nothing was written: no
    /// row held the value and `insert` was `None`, or one did and it was not `holding`, or
    /// `update` was `None`, or it lay outside `scope`.
    pub change: Option<Change>,
}
