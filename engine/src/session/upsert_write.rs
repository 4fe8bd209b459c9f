//! Running an upsert: which row it may update, under that row's lock (and, as it may create,
//! a create ticket), the one atomic store op, and the reply and push of what it turned out to
//! be. The no-gap rule of docs/protocol.md section 3 holds as for a create or an update.

use std::sync::Arc;

use super::job::failure;
use super::upsert::UpsertWrite;
use super::write::{Render, WritePath};
use crate::binding::Written;
use crate::binding::PK;
use crate::change::ChangeKind;
use crate::filter::{Filter, Ordering};
use crate::key::Key;
use crate::permission::{refusal, Caller};
use crate::protocol::{ApiError, ErrorCode};
use crate::store::{StoreOp, StoreOutput, Upserted};
use crate::value::Row;

/// How often an upsert looks again when another writer gave the value to another row
/// between its look and its write.
const ATTEMPTS: usize = 4;

impl WritePath {
    /// The built-in upsert, after the before-write hooks. An error is returned, not sent.
    pub(super) async fn upsert(
        &self,
        mut write: UpsertWrite,
        render: Render,
    ) -> Result<Written, ApiError> {
        let refused = || refusal(self.conn.user.as_deref());
        if let Some(values) = &write.insert {
            // A new row must land inside the writer's create scope; one that would not may
            // still update the row that is there.
            if !self.lies_in(&write.create_scope, values).await? {
                write.insert = None;
                if write.update.is_none() {
                    return Err(refused());
                }
            }
        }
        let inner = self.engine.inner();
        let stream = self.binding.stream();
        for _ in 0..ATTEMPTS {
            // The row the write may update is the one whose lock it holds: the key's, or the
            // row holding the unique value now.
            let holding = match &write.key {
                Some(key) => Some(key.clone()),
                None => self.holder(&write).await?,
            };
            let _guard = match &holding {
                Some(pk) => Some(inner.locks.lock(stream, pk).await),
                None => None,
            };
            let ticket = write.insert.is_some().then(|| inner.creates.begin(stream));
            let update = match (&holding, &write.update) {
                (Some(pk), Some(update)) if self.may_update(&write, pk) => Some(update.clone()),
                _ => None,
            };
            let updates = update.is_some();
            let op = StoreOp::Upsert(write.op_updating(&self.binding, holding.clone(), update));
            let (existing, change) = match inner.store.execute(op).await {
                Ok(StoreOutput::Upserted(Upserted { existing, change })) => (existing, change),
                other => return Err(failure(other)),
            };
            let Some(change) = change else {
                match (&existing, &holding) {
                    // The row is there and is the one held: the writer may not update it, or
                    // not this row (outside its scope, so it cannot take its value either).
                    (Some(found), Some(held)) if found == held => {
                        return Err(match updates {
                            false => refused(),
                            true => taken(&write.target),
                        })
                    }
                    (None, _) if write.insert.is_none() => return Err(refused()),
                    // Another writer moved the value meanwhile: look again.
                    _ => continue,
                }
            };
            self.reply(Ok(render(&change)));
            if change.kind != ChangeKind::Created {
                // It created nothing, so nothing waits on its ticket; but the row may be one a
                // create still in flight has just made.
                drop(ticket);
                inner.creates.settle(stream).await;
            }
            let written = Written {
                key: change.pk.clone(),
                row: change.new.clone(),
            };
            *self.committed.lock().unwrap_or_else(|p| p.into_inner()) = Some(change.clone());
            if change.kind != ChangeKind::Updated || change.old != change.new {
                self.engine.publish(change);
            }
            return Ok(written);
        }
        tracing::warn!(stream, "an upsert kept losing its row to other writers");
        Err(ApiError::new(
            ErrorCode::Conflict,
            "the row changed while it was written; try again",
        ))
    }

    /// Whether the writer may update the row `pk`: asked of the permission with the row's
    /// `id` for a field's upsert, already known for the key's.
    fn may_update(&self, write: &UpsertWrite, pk: &Key) -> bool {
        let Some(data) = &write.ask_update else {
            return true;
        };
        let caller = match self.system {
            true => Caller::System,
            false => Caller::User(self.conn.user.as_deref()),
        };
        let mut data = data.clone();
        data.insert(PK.to_owned(), pk.to_json());
        caller.allows(self.binding.permission_ref(), "update", &data)
    }

    /// The key of the row that holds the upsert's unique value now, if any.
    async fn holder(&self, write: &UpsertWrite) -> Result<Option<Key>, ApiError> {
        let op = StoreOp::Related {
            binding: Arc::clone(&self.binding),
            filter: write.holds(&self.binding),
            order: Ordering::by_pk(&self.binding),
            per: None,
        };
        match self.engine.inner().store.execute(op).await {
            Ok(StoreOutput::Rows(rows)) => Ok(rows.first().and_then(|r| self.binding.key_of(r))),
            other => Err(failure(other)),
        }
    }

    /// Whether a new row lies inside `scope`; a scope through relations is judged by the store.
    async fn lies_in(&self, scope: &Filter, values: &Row) -> Result<bool, ApiError> {
        if !scope.has_paths() {
            return Ok(scope.matches(values));
        }
        let op = StoreOp::Matches {
            binding: Arc::clone(&self.binding),
            filter: scope.clone(),
            rows: vec![values.clone()],
        };
        match self.engine.inner().store.execute(op).await {
            Ok(StoreOutput::Matches(answers)) => Ok(answers.first() == Some(&true)),
            other => Err(failure(other)),
        }
    }
}

/// The error of an upsert that found the row it would update outside the writer's scope:
/// what a create of the same value is told.
fn taken(target: &str) -> ApiError {
    let message = format!("a row with this {target} already exists");
    let mut error = ApiError::new(ErrorCode::Conflict, message.clone());
    error.fields.insert(target.to_owned(), vec![message]);
    error
}
