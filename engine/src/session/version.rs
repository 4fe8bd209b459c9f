//! A write's version check (docs/protocol.md section 2, "Version checks"): the write gives the
//! row its next version, the store writes only while the row still has the expected one, and
//! a write that found it moved on answers `conflict` with the row as it is now.

use std::sync::Arc;

use super::job::{failure, Write};
use super::write::WritePath;
use crate::filter::Filter;
use crate::protocol::ApiError;
use crate::render::render_row;
use crate::store::{StoreOp, StoreOutput};

impl WritePath {
    /// `write` with the version its row gets (after the hooks had their say on the values).
    pub(super) fn stamped(&self, write: Write) -> Write {
        let create = write.pk().is_none();
        match write.values() {
            Some(values) if self.binding.version_name().is_some() => {
                let mut values = values.clone();
                crate::version::stamp(&self.binding, &mut values, create);
                write.with_values(values)
            }
            _ => write,
        }
    }

    /// The writer's row scope, and the expected version when the write carries one: the
    /// store's `UPDATE`/`DELETE` then matches no row unless the row still has it, in the one
    /// statement that writes.
    pub(super) fn versioned_scope(&self) -> Filter {
        let scope = self.view.scope().clone();
        match &self.expect {
            Some(expected) => scope.and(crate::version::condition(&self.binding, expected)),
            None => scope,
        }
    }

    /// Why a versioned write matched no row: `conflict` with the current row when the writer
    /// can still see it (its version moved on), `not_found` when it is gone. The write has not
    /// happened either way; the row is read afterwards only to show the writer.
    pub(super) async fn stale_or_missing(&self, pk: Option<crate::key::Key>) -> ApiError {
        let Some(pk) = pk else {
            return ApiError::not_found();
        };
        let op = StoreOp::Get {
            binding: Arc::clone(&self.binding),
            pk,
            scope: self.view.scope().clone(),
        };
        match self.engine.inner().store.execute(op).await {
            Ok(StoreOutput::Row(Some(row))) => {
                crate::version::conflict(&self.binding, render_row(&self.binding, &row, &self.view))
            }
            other => failure(other),
        }
    }
}
