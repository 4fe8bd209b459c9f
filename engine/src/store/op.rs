//! Database work, described as data.

use crate::key::Key;
use std::sync::Arc;

use crate::binding::{ModelBinding, OnDelete};
use crate::change::Change;
use crate::filter::{Filter, Ordering};
use crate::value::Row;

pub use super::upsert::{Upsert, Upserted};

/// One atomic piece of database work. Values are canonical and validated before an op is
/// built, and every field name comes from the binding.
#[derive(Debug, Clone)]
pub enum StoreOp {
    /// Read one row inside `scope`.
    Get {
        /// The binding.
        binding: Arc<ModelBinding>,
        /// The primary key.
        pk: Key,
        /// The caller's row scope.
        scope: Filter,
    },
    /// Count the rows matching `filter` and read one window of them in `order`.
    Search {
        /// The binding.
        binding: Arc<ModelBinding>,
        /// The request's filter ANDed with the caller's scope.
        filter: Filter,
        /// Sort keys, primary key last.
        order: Ordering,
        /// Rows to skip.
        offset: u64,
        /// Rows to return at most.
        limit: u64,
    },
    /// Read the rows matching `filter` in `order`, without counting them: at most
    /// `per.limit` of them for each value of the field `per.field` (the first ones in `order`)
    /// when `per` is given. Relations read through it (docs/protocol.md section 2): an
    /// `expand` reads its rows by key, an `include` by foreign key with a limit per parent,
    /// one op per relation whatever the number of parent rows.
    Related {
        /// The binding.
        binding: Arc<ModelBinding>,
        /// The keys or foreign keys asked for, ANDed with the caller's scope.
        filter: Filter,
        /// Sort keys, primary key last: the rows come back in this order.
        order: Ordering,
        /// At most this many rows per value of a field.
        per: Option<PerValue>,
    },
    /// Insert a row; `values` holds every writable field plus server-set ones.
    Insert {
        /// The binding.
        binding: Arc<ModelBinding>,
        /// The column values (no `id`).
        values: Row,
    },
    /// Set `values` on the row `pk` if it lies inside `scope`.
    Update {
        /// The binding.
        binding: Arc<ModelBinding>,
        /// The primary key.
        pk: Key,
        /// The columns to set.
        values: Row,
        /// The caller's row scope.
        scope: Filter,
    },
    /// Delete the row `pk` if it lies inside `scope`, reporting what its `set null` and
    /// `cascade` referrers' rows became.
    Delete {
        /// The binding.
        binding: Arc<ModelBinding>,
        /// The primary key.
        pk: Key,
        /// The caller's row scope.
        scope: Filter,
        /// The foreign keys pointing at this binding whose rows the delete changes
        /// ([`Registry::referrers`](crate::binding::Registry::referrers)).
        referrers: Vec<Referrer>,
    },
    /// Insert a row, or update the one that already holds its key or unique value, at once
    /// (see [`Upsert`]).
    Upsert(Upsert),
    /// Whether each of `rows` (values of the binding's fields, as a change carries them)
    /// satisfies `filter`, reading its relation paths from the rows stored now: how a filter
    /// that follows relations is judged against a row that is not (or no longer) stored.
    Matches {
        /// The binding.
        binding: Arc<ModelBinding>,
        /// The filter.
        filter: Filter,
        /// The rows to judge.
        rows: Vec<Row>,
    },
}

impl StoreOp {
    /// The binding the op works on.
    pub fn binding(&self) -> &Arc<ModelBinding> {
        match self {
            StoreOp::Get { binding, .. }
            | StoreOp::Search { binding, .. }
            | StoreOp::Related { binding, .. }
            | StoreOp::Insert { binding, .. }
            | StoreOp::Update { binding, .. }
            | StoreOp::Delete { binding, .. }
            | StoreOp::Matches { binding, .. } => binding,
            StoreOp::Upsert(upsert) => &upsert.binding,
        }
    }
}

/// How many rows [`StoreOp::Related`] keeps for each value of a field: the first `limit` in
/// the op's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerValue {
    /// The field (a foreign key, for an `include`).
    pub field: String,
    /// The most rows for one value.
    pub limit: u64,
}

/// A foreign key that points at a binding, and what a delete there does to its rows.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The binding holding the foreign key.
    pub binding: Arc<ModelBinding>,
    /// The foreign key field.
    pub field: String,
    /// `SetNull` or `Cascade` (restricting keys change nothing).
    pub rule: OnDelete,
}

/// What an op produced.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOutput {
    /// `Get`: the row, or `None` when it does not exist or lies outside the scope.
    Row(Option<Row>),
    /// `Search`: the total count and the window of rows.
    Page {
        /// Rows matching the filter.
        count: u64,
        /// The requested window.
        rows: Vec<Row>,
    },
    /// `Related`: the rows, in the op's order.
    Rows(Vec<Row>),
    /// `Insert`, `Update`, `Delete`: the committed change, or `None` when the row did not
    /// exist or lay outside the scope.
    Changed(Option<Change>),
    /// `Matches`: one answer per row, in order.
    Matches(Vec<bool>),
    /// `Upsert`: what it found and did.
    Upserted(Upserted),
}
