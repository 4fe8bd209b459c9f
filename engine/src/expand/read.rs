//! Reading and rendering the related rows of a set of rows: one store op per relation of the
//! tree, whatever the number of rows.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use super::{Node, Relations, Watch};
use crate::binding::ModelBinding;
use crate::filter::{Condition, Filter, Lookup, Operand};
use crate::key::Key;
use crate::permission::View;
use crate::relation::RelationKind;
use crate::store::{PerValue, Store, StoreError, StoreOp, StoreOutput};
use crate::value::Row;

type Attached<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

impl Relations {
    /// `rows` of `binding` as a caller with `view` sees them, each with the relations of the
    /// tree under their names: an expansion's row (or `null` when there is none the caller
    /// may see), an include's rows as a list in its order. Adds what the result shows to
    /// `watch`.
    pub async fn render(
        &self,
        store: &dyn Store,
        binding: &ModelBinding,
        view: &View,
        rows: &[Row],
        watch: &mut Watch,
    ) -> Result<Vec<Value>, StoreError> {
        let mut out: Vec<Map<String, Value>> =
            rows.iter().map(|r| shown(binding, r, view)).collect();
        self.attach(store, binding, rows, &mut out, watch).await?;
        Ok(out.into_iter().map(Value::Object).collect())
    }

    /// Puts each relation of the tree into `out`, the rendered `rows`.
    fn attach<'a>(
        &'a self,
        store: &'a dyn Store,
        binding: &'a ModelBinding,
        rows: &'a [Row],
        out: &'a mut [Map<String, Value>],
        watch: &'a mut Watch,
    ) -> Attached<'a> {
        Box::pin(async move {
            if rows.is_empty() {
                return Ok(());
            }
            for node in &self.nodes {
                match &node.relation.kind {
                    RelationKind::ToOne { field } => {
                        node.expand(store, field, rows, out, watch).await?
                    }
                    RelationKind::ToMany { field } => {
                        node.include(store, binding, field, rows, out, watch)
                            .await?
                    }
                }
            }
            Ok(())
        })
    }
}

impl Node {
    /// Each row's related row under the foreign key `field`, read by key in one op.
    async fn expand(
        &self,
        store: &dyn Store,
        field: &str,
        rows: &[Row],
        out: &mut [Map<String, Value>],
        watch: &mut Watch,
    ) -> Result<(), StoreError> {
        let target = &self.relation.target;
        let fk = |row: &Row| row.get(field).and_then(Key::from_json);
        let keys = distinct(rows.iter().filter_map(fk));
        watch.keys(target.stream(), keys.iter().cloned());
        let mut found: HashMap<Key, Value> = HashMap::new();
        if !keys.is_empty() {
            let filter = Filter::pks(target, &keys).and(self.view.scope().clone());
            let (related, rendered) = self.read(store, filter, None, watch).await?;
            for (row, value) in related.iter().zip(rendered) {
                if let Some(key) = target.key_of(row) {
                    found.insert(key, value);
                }
            }
        }
        for (row, shown) in rows.iter().zip(out.iter_mut()) {
            let value = fk(row).and_then(|k| found.get(&k).cloned());
            shown.insert(self.relation.name.clone(), value.unwrap_or(Value::Null));
        }
        Ok(())
    }

    /// Each row's referring rows through their foreign key `field`, at most `limit` per row,
    /// read in one op.
    async fn include(
        &self,
        store: &dyn Store,
        binding: &ModelBinding,
        field: &str,
        rows: &[Row],
        out: &mut [Map<String, Value>],
        watch: &mut Watch,
    ) -> Result<(), StoreError> {
        let target = &self.relation.target;
        let parents = distinct(rows.iter().filter_map(|r| binding.key_of(r)));
        watch.refs(target.stream(), field, parents.iter().cloned());
        let kind = target.get(field).map(|f| f.kind().clone()).ok_or_else(|| {
            StoreError::Internal(format!("{} has no field {field}", target.stream()))
        })?;
        let by_parent = Filter::Cond(Condition {
            field: field.to_owned(),
            path: Vec::new(),
            kind,
            lookup: Lookup::In,
            operand: Operand::List(parents.iter().map(Key::to_json).collect()),
        });
        let filter = by_parent.and(self.view.scope().clone());
        let per = PerValue {
            field: field.to_owned(),
            limit: self.limit,
        };
        let (related, rendered) = self.read(store, filter, Some(per), watch).await?;
        watch.keys(
            target.stream(),
            related.iter().filter_map(|r| target.key_of(r)),
        );
        let mut groups: HashMap<Key, Vec<Value>> = HashMap::new();
        for (row, value) in related.iter().zip(rendered) {
            if let Some(parent) = row.get(field).and_then(Key::from_json) {
                groups.entry(parent).or_default().push(value);
            }
        }
        for (row, shown) in rows.iter().zip(out.iter_mut()) {
            // Each parent row is one key: its list moves, it is not copied.
            let list = binding
                .key_of(row)
                .and_then(|k| groups.remove(&k))
                .unwrap_or_default();
            shown.insert(self.relation.name.clone(), Value::Array(list));
        }
        Ok(())
    }

    /// Reads the relation's rows matching `filter` and renders them with their own relations.
    async fn read(
        &self,
        store: &dyn Store,
        filter: Filter,
        per: Option<PerValue>,
        watch: &mut Watch,
    ) -> Result<(Vec<Row>, Vec<Value>), StoreError> {
        let target = &self.relation.target;
        let op = StoreOp::Related {
            binding: std::sync::Arc::clone(target),
            filter,
            order: self.order.clone(),
            per,
        };
        let rows = match store.execute(op).await? {
            StoreOutput::Rows(rows) => rows,
            other => {
                return Err(StoreError::Internal(format!(
                    "a relation read answered {other:?}"
                )))
            }
        };
        let mut out: Vec<Map<String, Value>> =
            rows.iter().map(|r| shown(target, r, &self.view)).collect();
        self.children
            .attach(store, target, &rows, &mut out, watch)
            .await?;
        Ok((rows, out.into_iter().map(Value::Object).collect()))
    }
}

/// The row's fields the caller sees, as [`crate::render::render_row`] shows them.
fn shown(binding: &ModelBinding, row: &Row, view: &View) -> Map<String, Value> {
    match crate::render::render_row(binding, row, view) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The keys in first-seen order, each once.
fn distinct(keys: impl Iterator<Item = Key>) -> Vec<Key> {
    let mut seen = HashSet::new();
    keys.filter(|k| seen.insert(k.clone())).collect()
}
