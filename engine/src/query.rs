//! A `search`, a `list`, or a `retrieve` that shows relations, as data: what to read, and how
//! to show the result. Jobs run it once for the reply; stream actors run it again whenever a
//! change may have touched its result.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::binding::ModelBinding;
use crate::expand::{Relations, Watch};
use crate::filter::{Filter, Ordering};
use crate::key::Key;
use crate::permission::View;
use crate::store::{Store, StoreError, StoreOp, StoreOutput};

/// The reply shape of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `search`: one page, with `page`, `limit`, `count` and `order`.
    Search {
        /// The page, from 1.
        page: u64,
        /// Rows per page.
        limit: u64,
    },
    /// `list`: up to `limit` rows with their `count`.
    List {
        /// The most rows returned.
        limit: u64,
    },
    /// `retrieve` of a row with relations: the row itself. Live, it is re-read when the row or
    /// a related row it shows changes, and ends with a `delete` push when the row is gone
    /// or out of the reader's scope.
    Row {
        /// The row.
        pk: Key,
    },
}

/// What one read of a query found.
#[derive(Debug, Clone)]
pub struct Fresh {
    /// The reply `data`.
    pub data: Value,
    /// The related rows it shows, for telling which changes of other streams touch it.
    pub watch: Watch,
}

/// A query of one binding: its filter (the request's, ANDed with the caller's scope), its
/// order and its shape.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// The binding.
    pub binding: Arc<ModelBinding>,
    /// The rows it selects.
    pub filter: Filter,
    /// Their order, primary key last.
    pub order: Ordering,
    /// Which window, and how the reply looks.
    pub shape: Shape,
    /// What the caller may see; `filter` already holds its scope.
    pub view: Arc<View>,
    /// The relations its rows show (`expand`, `include`).
    pub relations: Relations,
}

impl QuerySpec {
    /// The store op that reads the query's result.
    pub fn op(&self) -> StoreOp {
        let (offset, limit) = match &self.shape {
            Shape::Search { page, limit } => ((page - 1).saturating_mul(*limit), *limit),
            Shape::List { limit } => (0, *limit),
            Shape::Row { pk } => {
                return StoreOp::Get {
                    binding: Arc::clone(&self.binding),
                    pk: pk.clone(),
                    scope: self.view.scope().clone(),
                }
            }
        };
        StoreOp::Search {
            binding: Arc::clone(&self.binding),
            filter: self.filter.clone(),
            order: self.order.clone(),
            offset,
            limit,
        }
    }

    /// Reads the result and renders it: the page (or row) and its relations, one store op
    /// for the rows and one per relation. `None` when a row the query shows is gone.
    pub async fn read(&self, store: &dyn Store) -> Result<Option<Fresh>, StoreError> {
        let (count, rows) = match store.execute(self.op()).await? {
            StoreOutput::Page { count, rows } => (count, rows),
            StoreOutput::Row(Some(row)) => (1, vec![row]),
            StoreOutput::Row(None) => return Ok(None),
            other => {
                return Err(StoreError::Internal(format!(
                    "a query read answered {other:?}"
                )))
            }
        };
        let mut watch = Watch::default();
        let mut rows = self
            .relations
            .render(store, &self.binding, &self.view, &rows, &mut watch)
            .await?;
        let data = match &self.shape {
            Shape::Search { page, limit } => json!({
                "page": page,
                "limit": limit,
                "count": count,
                "order": self.order.to_json(),
                "rows": rows,
            }),
            Shape::List { .. } => json!({"count": count, "rows": rows}),
            Shape::Row { .. } => rows.pop().unwrap_or(Value::Null),
        };
        Ok(Some(Fresh { data, watch }))
    }

    /// The streams, other than its own, whose changes may change its result: those of the
    /// rows its relations show, and those its filter and order reach through relations.
    pub fn related_streams(&self) -> BTreeSet<String> {
        let mut streams = self.relations.streams();
        streams.extend(self.path_streams());
        streams.remove(self.binding.stream());
        streams
    }

    /// The streams its filter and order reach through relation paths: any change there may
    /// move rows in or out, so it always touches the query.
    pub fn path_streams(&self) -> BTreeSet<String> {
        let mut out = self.filter.related_streams();
        self.order.related_streams_into(&mut out);
        out
    }

    /// A key that is equal for equal queries, so identical queries held by many connections
    /// are run once.
    pub fn signature(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{}|{}",
            self.filter,
            self.order,
            self.shape,
            self.view.signature(),
            self.relations.signature()
        )
    }
}
