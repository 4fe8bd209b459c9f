//! The filter model of docs/protocol.md section 2: Django-style lookups, `query` and `order`.
//!
//! One definition serves two evaluators: [`crate::sql`] compiles a [`Filter`] to a
//! parameterized `WHERE` clause, and [`Filter::matches`] evaluates it against a row in memory
//! (for the in-memory store and to decide which subscriptions a change touches). Their
//! semantics are kept identical: SQL's three-valued logic (a comparison with null is false),
//! `__ne` as `IS DISTINCT FROM`, byte-order string comparison and ASCII-only case folding.
//! A [`Filter::Not`] is the complement of what its child matches, so under it "unknown" counts
//! as "does not match": `not(priority > 5)` keeps the rows whose priority is null.
//!
//! A condition may read its field through relations (`owner__username`, see [`path`]); in
//! memory it then needs the related rows, which [`Filter::matches_with`] finds through a
//! [`Resolve`].

mod computed;
mod eval;
mod group;
mod lookup;
mod order;
mod parse;
pub mod path;
mod size;

pub use eval::{NoRows, Resolve};
pub use lookup::Lookup;
pub use order::{OrderKey, Ordering};
pub use parse::{parse_filter, parse_filter_related, parse_filter_visible, parse_scope};
pub use path::{Hop, Reader, Relations, ViewOf};
pub use size::check_filter_size;

use std::collections::BTreeSet;

use crate::key::Key;
use serde_json::Value;

use crate::binding::{FieldKind, ModelBinding};

/// A condition tree. An empty [`Filter::All`] matches every row; an empty [`Filter::Any`] none.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every child matches.
    All(Vec<Filter>),
    /// At least one child matches.
    Any(Vec<Filter>),
    /// Every row the child does not match, rows where the child is unknown (null) included.
    Not(Box<Filter>),
    /// One field lookup.
    Cond(Condition),
}

impl Filter {
    /// The filter that matches every row.
    pub fn everything() -> Self {
        Filter::All(Vec::new())
    }

    /// Both filters; flattens nested conjunctions.
    pub fn and(self, other: Filter) -> Filter {
        let mut parts = match self {
            Filter::All(parts) => parts,
            other => vec![other],
        };
        match other {
            Filter::All(more) => parts.extend(more),
            other => parts.push(other),
        }
        if parts.len() == 1 {
            parts.pop().unwrap_or_else(Filter::everything)
        } else {
            Filter::All(parts)
        }
    }

    /// Whether the filter is the trivial one that matches everything.
    pub fn is_everything(&self) -> bool {
        matches!(self, Filter::All(parts) if parts.is_empty())
    }

    /// Whether any condition reads through a relation, so that matching a row needs the
    /// related rows ([`matches_with`](Self::matches_with), or the store).
    pub fn has_paths(&self) -> bool {
        match self {
            Filter::All(parts) | Filter::Any(parts) => parts.iter().any(Filter::has_paths),
            Filter::Not(inner) => inner.has_paths(),
            Filter::Cond(c) => !c.path.is_empty(),
        }
    }

    /// The other streams whose rows the filter reads through relations.
    pub fn related_streams(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.related_streams_into(&mut out);
        out
    }

    pub(crate) fn related_streams_into(&self, out: &mut BTreeSet<String>) {
        match self {
            Filter::All(parts) | Filter::Any(parts) => {
                parts.iter().for_each(|p| p.related_streams_into(out))
            }
            Filter::Not(inner) => inner.related_streams_into(out),
            Filter::Cond(c) => path::streams_of(&c.path, out),
        }
    }

    /// `id = pk`, for a key of `binding`.
    pub fn pk(binding: &ModelBinding, pk: &Key) -> Filter {
        Filter::Cond(Condition {
            path: Vec::new(),
            field: crate::binding::PK.to_owned(),
            kind: binding.key_field().kind().clone(),
            lookup: Lookup::Exact,
            operand: Operand::Value(pk.to_json()),
        })
    }

    /// `id IN (pks)`, for keys of `binding`.
    pub fn pks(binding: &ModelBinding, pks: &[Key]) -> Filter {
        Filter::Cond(Condition {
            path: Vec::new(),
            field: crate::binding::PK.to_owned(),
            kind: binding.key_field().kind().clone(),
            lookup: Lookup::In,
            operand: Operand::List(pks.iter().map(Key::to_json).collect()),
        })
    }
}

/// `field__lookup = operand`, with the field's type carried along so the condition can be
/// evaluated or compiled without the binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The relations followed to the row whose field is compared; empty for the row itself.
    pub path: Vec<Hop>,
    /// The field (and column) name, taken from the binding, never from the client.
    pub field: String,
    /// The field's type.
    pub kind: FieldKind,
    /// The lookup.
    pub lookup: Lookup,
    /// The value compared against, already in canonical form.
    pub operand: Operand,
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// One canonical value (never null: null comparisons become [`Lookup::IsNull`]).
    Value(Value),
    /// The values of `__in`.
    List(Vec<Value>),
    /// The flag of `__isnull`.
    Flag(bool),
}
