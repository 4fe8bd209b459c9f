//! One batch step inside the batch's transaction: the step's before-write hooks, the row
//! scope check and the store op, as a single write runs them (`write.rs`), but through the
//! transaction and without a reply or a publish of its own: the batch replies and publishes
//! once it has committed.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::super::job::{failure, Write};
use super::super::write::{guarded, WritePath};
use crate::binding::{Next, Written};
use crate::permission::refusal;
use crate::protocol::ApiError;
use crate::store::{StoreError, StoreOp, StoreOutput, Transaction};
use crate::value::Row;

/// The batch's open transaction, shared with the steps (a wrapper's [`Next`] runs one later).
pub(super) type SharedTx = Arc<Mutex<Option<Box<dyn Transaction>>>>;

/// One step as it runs.
pub(super) struct StepRun {
    /// The write's context; its `committed` slot receives the step's change.
    pub(super) path: WritePath,
    pub(super) tx: SharedTx,
}

impl StepRun {
    /// Runs the step through its binding's wrapper, if any, then the built-in write.
    pub(super) async fn run(self: Arc<Self>, write: Write) -> Result<Written, ApiError> {
        match self
            .path
            .binding
            .hooks()
            .wrapper(&self.path.action)
            .cloned()
        {
            None => self.builtin(write).await,
            Some(wrapper) => {
                let call = self.path.call(&write);
                let inner = Arc::clone(&self);
                let next =
                    Next::new(move |values| Box::pin(inner.builtin(write.with_values(values))));
                guarded(&self.path, "wrapper", || wrapper(call, next)).await
            }
        }
    }

    /// Before-write hooks, then the op in the transaction.
    async fn builtin(self: Arc<Self>, mut write: Write) -> Result<Written, ApiError> {
        let path = &self.path;
        for hook in &path.binding.hooks().before {
            let call = path.call(&write);
            let values = guarded(path, "before-write hook", || hook(call)).await?;
            write = write.with_values(values);
        }
        if let Some(unknown) = write
            .values()
            .and_then(|values| values.keys().find(|k| path.binding.get(k).is_none()))
        {
            tracing::error!(
                stream = path.binding.stream(),
                field = unknown,
                "a hook set a field the binding does not have"
            );
            return Err(ApiError::internal());
        }
        if let Write::Create { values } = &write {
            self.check_new_row(values).await?;
        }
        // As a single write: the version stamped, and an expected version in the scope.
        let write = path.stamped(write);
        let pk = write.pk();
        let op = write.op(
            &path.engine.inner().registry,
            &path.binding,
            path.versioned_scope(),
        );
        match self.execute(op).await {
            Ok(StoreOutput::Changed(Some(change))) => {
                let written = Written {
                    key: change.pk.clone(),
                    row: change.new.clone(),
                };
                *path.committed.lock().unwrap_or_else(|p| p.into_inner()) = Some(change);
                Ok(written)
            }
            Ok(StoreOutput::Changed(None)) if path.expect.is_some() => {
                Err(self.stale_or_missing(pk).await)
            }
            other => Err(failure(other)),
        }
    }

    /// Why a versioned step matched no row, read inside the transaction (the memory store's
    /// gate would hold a read from outside until the batch ends): `conflict` with the current
    /// row, or `not_found`.
    async fn stale_or_missing(&self, pk: Option<crate::key::Key>) -> ApiError {
        let path = &self.path;
        let Some(pk) = pk else {
            return ApiError::not_found();
        };
        let op = StoreOp::Get {
            binding: Arc::clone(&path.binding),
            pk,
            scope: path.view.scope().clone(),
        };
        match self.execute(op).await {
            Ok(StoreOutput::Row(Some(row))) => crate::version::conflict(
                &path.binding,
                crate::render::render_row(&path.binding, &row, &path.view),
            ),
            other => failure(other),
        }
    }

    async fn execute(&self, op: StoreOp) -> Result<StoreOutput, StoreError> {
        let mut tx = self.tx.lock().await;
        match tx.as_mut() {
            Some(tx) => tx.execute(op).await,
            None => Err(StoreError::Internal(
                "the batch's transaction has ended".into(),
            )),
        }
    }

    /// Whether a new row lies inside the writer's scope, judged inside the transaction, so a
    /// scope through relations sees the rows earlier steps wrote.
    async fn check_new_row(&self, values: &Row) -> Result<(), ApiError> {
        let path = &self.path;
        let scope = path.view.scope();
        if !scope.has_paths() {
            return match scope.matches(values) {
                true => Ok(()),
                false => Err(refusal(path.conn.user.as_deref())),
            };
        }
        let op = StoreOp::Matches {
            binding: Arc::clone(&path.binding),
            filter: scope.clone(),
            rows: vec![values.clone()],
        };
        match self.execute(op).await {
            Ok(StoreOutput::Matches(answers)) if answers.first() == Some(&true) => Ok(()),
            Ok(StoreOutput::Matches(_)) => Err(refusal(path.conn.user.as_deref())),
            other => Err(failure(other)),
        }
    }
}
