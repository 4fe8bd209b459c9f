//! The change model: what a committed write did to one row.

use crate::key::Key;
use crate::value::Row;

/// What happened to the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The row was inserted.
    Created,
    /// The row was updated.
    Updated,
    /// The row was deleted.
    Deleted,
}

/// One committed change to one row of one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The stream the row belongs to.
    pub stream: String,
    /// The row's primary key.
    pub pk: Key,
    /// What happened.
    pub kind: ChangeKind,
    /// The row before the write (`None` for a create).
    pub old: Option<Row>,
    /// The row after the write (`None` for a delete).
    pub new: Option<Row>,
    /// Changes a delete made to rows referring to this one through foreign keys declared
    /// `set null` or `cascade` (direct referrers; deeper cascades are the database's own),
    /// in (stream, pk) order. Empty for every other change.
    pub cascaded: Vec<Change>,
}
