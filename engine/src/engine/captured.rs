//! Publishing rows changed outside chanbind: the capture listener's batches
//! ([`crate::capture::Batch`]) and the application's own announcements ([`super::changed`])
//! are read through the store and published on this node.

use std::collections::HashMap;
use std::sync::Arc;

use super::Engine;
use crate::binding::ModelBinding;
use crate::capture::{change_for, Batch, READ_CHUNK};
use crate::filter::{Filter, Ordering};
use crate::key::Key;
use crate::store::{StoreError, StoreOp, StoreOutput};
use crate::value::Row;

impl Engine {
    /// Reads the rows of `batch` through the engine's store and publishes the change each
    /// means ([`change_for`]) to every binding of its table that has subscribers on this node
    /// (the others are skipped, unread), in the batch's order. Rows are
    /// read [`READ_CHUNK`] at a time, one query per run of rows of one table, so a bulk
    /// update of a thousand rows costs a couple of queries, not a thousand. Unknown tables
    /// are logged and dropped; a failed read is logged and its rows dropped (the next refresh
    /// catches up). Returns how many changes were published.
    ///
    /// With a blocking store, poll this on a thread that may block (the sync listener's own).
    pub async fn publish_captured(&self, batch: Batch) -> usize {
        let families = self.inner.metrics.families();
        families.capture_received.inc_by(batch.notices);
        for lag in &batch.lags {
            families.capture_lag.observe(*lag);
        }
        let mut by_table: HashMap<(&str, &str), Vec<&Arc<ModelBinding>>> = HashMap::new();
        for binding in self.registry().models() {
            let schema = binding.schema_name().unwrap_or(&batch.schema);
            by_table
                .entry((schema, binding.table()))
                .or_default()
                .push(binding);
        }
        let mut published = 0;
        for run in batch
            .rows
            .chunk_by(|a, b| a.0 == b.0)
            .flat_map(|run| run.chunks(READ_CHUNK))
        {
            let (schema, table) = (run[0].0 .0.as_str(), run[0].0 .1.as_str());
            let Some(bindings) = by_table.get(&(schema, table)) else {
                // Another schema is another application's (or test's): not ours to report.
                if schema == batch.schema {
                    tracing::warn!(table, "capture notification for an unbound table; dropped");
                }
                continue;
            };
            let rows: Vec<(Key, bool)> = run.iter().map(|(_, pk, c)| (pk.clone(), *c)).collect();
            // A stream no one here watches, directly or through relations, has no one to
            // tell: skip its read.
            for binding in bindings
                .iter()
                .filter(|b| self.is_watched_directly_or_through_relations(b.stream()))
            {
                match self.read_and_publish_local(binding, &rows).await {
                    Ok(n) => published += n,
                    Err(e) => {
                        tracing::warn!(error = %e, table, rows = rows.len(), "cannot read captured rows");
                    }
                }
            }
        }
        published
    }
}

impl Engine {
    /// Reads `rows` of `binding` (at most [`READ_CHUNK`]) in one query and publishes to this
    /// node's subscribers only the change each means ([`change_for`]), in order: relaying
    /// what another node or program wrote would echo it around the cluster. Returns how many
    /// changes were published.
    pub(crate) async fn read_and_publish_local(
        &self,
        binding: &Arc<ModelBinding>,
        rows: &[(Key, bool)],
    ) -> Result<usize, StoreError> {
        let pks: Vec<Key> = rows.iter().map(|(pk, _)| pk.clone()).collect();
        let op = StoreOp::Search {
            binding: Arc::clone(binding),
            filter: Filter::pks(binding, &pks),
            order: Ordering::by_pk(binding),
            offset: 0,
            limit: pks.len() as u64,
        };
        let mut found: HashMap<Key, Row> = match self.inner().store.execute(op).await? {
            StoreOutput::Page { rows, .. } => rows
                .into_iter()
                .filter_map(|row| Some((binding.key_of(&row)?, row)))
                .collect(),
            other => {
                return Err(StoreError::Internal(format!(
                    "unexpected answer to a search: {other:?}"
                )))
            }
        };
        for (pk, inserted) in rows {
            let row = found.remove(pk);
            self.publish_local(change_for(binding, pk.clone(), *inserted, row));
        }
        Ok(rows.len())
    }
}
