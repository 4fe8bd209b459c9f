//! Which rows show a changed related row: what a change feed, which holds no result, needs
//! to tell its subscriber which of its rows a change of a related row changed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{Node, Relations};
use crate::binding::ModelBinding;
use crate::change::Change;
use crate::filter::{Condition, Filter, Lookup, Operand, Ordering};
use crate::key::Key;
use crate::relation::RelationKind;
use crate::store::{Store, StoreError, StoreOp, StoreOutput};
use crate::value::Row;

type Found<'a> = Pin<Box<dyn Future<Output = Result<Option<Filter>, StoreError>> + Send + 'a>>;

impl Relations {
    /// A filter over `binding`'s rows that selects those whose relations, as this tree shows
    /// them, show the row `change` is about, before or after it; `None` when no row can.
    /// Rows in between (a comment's task, for a change of the task's owner) are read, one op
    /// per level, at most `max` of them per level. A change captured without its old row is
    /// followed from its new row only.
    pub(crate) fn showing<'a>(
        &'a self,
        store: &'a dyn Store,
        binding: &'a ModelBinding,
        change: &'a Change,
        max: usize,
    ) -> Found<'a> {
        Box::pin(async move {
            let mut any = Vec::new();
            for node in &self.nodes {
                if let Some(filter) = node.showing(store, binding, change, max).await? {
                    any.push(filter);
                }
            }
            Ok(match any.len() {
                0 => None,
                1 => any.pop(),
                _ => Some(Filter::Any(any)),
            })
        })
    }

    /// Whether the tree shows rows of `stream`.
    pub(crate) fn shows(&self, stream: &str) -> bool {
        self.nodes
            .iter()
            .any(|n| n.relation.target.stream() == stream || n.children.shows(stream))
    }
}

impl Node {
    async fn showing(
        &self,
        store: &dyn Store,
        binding: &ModelBinding,
        change: &Change,
        max: usize,
    ) -> Result<Option<Filter>, StoreError> {
        let target = &self.relation.target;
        let mut any = Vec::new();
        if target.stream() == change.stream {
            match &self.relation.kind {
                RelationKind::ToOne { field } => {
                    any.push(holding(binding, field, std::slice::from_ref(&change.pk)))
                }
                RelationKind::ToMany { field } => {
                    let images = [&change.old, &change.new];
                    let parents: Vec<Key> = images
                        .iter()
                        .filter_map(|r| r.as_ref()?.get(field).and_then(Key::from_json))
                        .collect();
                    if !parents.is_empty() {
                        any.push(Filter::pks(binding, &parents));
                    }
                }
            }
        }
        if let Some(deeper) = self.children.showing(store, target, change, max).await? {
            let filter = deeper.and(self.view.scope().clone());
            let rows = read(store, target, filter, max).await?;
            match &self.relation.kind {
                RelationKind::ToOne { field } => {
                    let keys: Vec<Key> = rows.iter().filter_map(|r| target.key_of(r)).collect();
                    if !keys.is_empty() {
                        any.push(holding(binding, field, &keys));
                    }
                }
                RelationKind::ToMany { field } => {
                    let parents: Vec<Key> = rows
                        .iter()
                        .filter_map(|r| r.get(field).and_then(Key::from_json))
                        .collect();
                    if !parents.is_empty() {
                        any.push(Filter::pks(binding, &parents));
                    }
                }
            }
        }
        Ok(match any.len() {
            0 => None,
            1 => any.pop(),
            _ => Some(Filter::Any(any)),
        })
    }
}

/// The rows of `binding` whose foreign key `field` holds one of `keys`.
fn holding(binding: &ModelBinding, field: &str, keys: &[Key]) -> Filter {
    let kind = binding
        .get(field)
        .map(|f| f.kind().clone())
        .unwrap_or(crate::binding::FieldKind::Integer);
    Filter::Cond(Condition {
        field: field.to_owned(),
        path: Vec::new(),
        kind,
        lookup: Lookup::In,
        operand: Operand::List(keys.iter().map(Key::to_json).collect()),
    })
}

/// At most `max` rows of `binding` matching `filter`, by key.
pub(crate) async fn read(
    store: &dyn Store,
    binding: &Arc<ModelBinding>,
    filter: Filter,
    max: usize,
) -> Result<Vec<Row>, StoreError> {
    let op = StoreOp::Related {
        binding: Arc::clone(binding),
        filter,
        order: Ordering::by_pk(binding),
        per: None,
    };
    match store.execute(op).await? {
        StoreOutput::Rows(mut rows) => {
            rows.truncate(max);
            Ok(rows)
        }
        other => Err(StoreError::Internal(format!(
            "a relation read answered {other:?}"
        ))),
    }
}
