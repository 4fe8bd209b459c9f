//! A `search` or `list` as data: what to read, and how to show the result. Jobs run it once
//! for the reply; stream actors run it again whenever a change may have touched its result.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::binding::ModelBinding;
use crate::filter::{Filter, Ordering};
use crate::permission::View;
use crate::session::render_row;
use crate::store::{StoreOp, StoreOutput};

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
}

impl QuerySpec {
    /// The other streams whose changes may change this query's result: those its filter and
    /// order read through relations. A change there refreshes the live query.
    pub fn related_streams(&self) -> std::collections::BTreeSet<String> {
        let mut out = self.filter.related_streams();
        self.order.related_streams_into(&mut out);
        out
    }

    /// The store op that reads the query's result.
    pub fn op(&self) -> StoreOp {
        let (offset, limit) = match self.shape {
            Shape::Search { page, limit } => ((page - 1).saturating_mul(limit), limit),
            Shape::List { limit } => (0, limit),
        };
        StoreOp::Search {
            binding: Arc::clone(&self.binding),
            filter: self.filter.clone(),
            order: self.order.clone(),
            offset,
            limit,
        }
    }

    /// The reply `data` for the store's answer, or `None` when the answer is not a page.
    pub fn render(&self, output: &StoreOutput) -> Option<Value> {
        let StoreOutput::Page { count, rows } = output else {
            return None;
        };
        let rows: Vec<Value> = rows
            .iter()
            .map(|r| render_row(&self.binding, r, &self.view))
            .collect();
        Some(match self.shape {
            Shape::Search { page, limit } => json!({
                "page": page,
                "limit": limit,
                "count": count,
                "order": self.order.to_json(),
                "rows": rows,
            }),
            Shape::List { .. } => json!({"count": count, "rows": rows}),
        })
    }

    /// A key that is equal for equal queries, so identical queries held by many connections
    /// are run once.
    pub fn signature(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{}",
            self.filter,
            self.order,
            self.shape,
            self.view.signature()
        )
    }
}
