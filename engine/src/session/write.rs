//! One write through the binding's hooks (see `binding/hooks.rs`): its wrapper, its
//! before-write hooks, the built-in write (scope check, store, reply, publish, in the order
//! that keeps the no-gap rule) and its after-commit hooks.
//!
//! Everything a write needs is owned here, because a wrapper's [`Next`] carries the built-in
//! write into the application's own future.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use serde_json::Value;

use super::job::{failure, Write};
use crate::binding::{Committed, ModelBinding, Next, WriteCall, Written};
use crate::change::{Change, ChangeKind};
use crate::engine::Engine;
use crate::outbound::ConnHandle;
use crate::permission::{refusal, View};
use crate::protocol::{encode_error, encode_reply, ApiError};
use crate::store::{StoreOp, StoreOutput};
use crate::value::Row;

/// How the writer's reply shows the committed change.
pub(super) type Render = Box<dyn FnOnce(&Change) -> Value + Send>;

/// One write of one request.
pub(super) struct WritePath {
    pub(super) engine: Engine,
    pub(super) conn: ConnHandle,
    /// The event the writer's reply carries.
    pub(super) reply_to: String,
    pub(super) binding: Arc<ModelBinding>,
    pub(super) view: Arc<View>,
    /// Whether application code writes with every right.
    pub(super) system: bool,
    /// The action hooks see: `create`, `update`, `save` or `delete`.
    pub(super) action: String,
    /// An upsert: its after-commit hooks see the `create` or `update` it turned out to be.
    pub(super) upsert: bool,
    /// The change, once committed: the writer has its reply then, whatever a wrapper does.
    pub(super) committed: Mutex<Option<Change>>,
    /// The version the write's `if_version` expects (see `version.rs`).
    pub(super) expect: Option<Value>,
}

impl WritePath {
    /// Runs the write to the end: its reply is queued, its pushes published and its
    /// after-commit hooks run.
    pub(super) async fn run(self, write: Write, render: Render) {
        let path = Arc::new(self);
        let outcome = match path.binding.hooks().wrapper(&path.action).cloned() {
            None => Arc::clone(&path).builtin(write, render).await,
            Some(wrapper) => {
                let call = path.call(&write);
                let inner = Arc::clone(&path);
                let next = Next::new(move |values| {
                    Box::pin(inner.builtin(write.with_values(values), render))
                });
                guarded(&path, "wrapper", || wrapper(call, next)).await
            }
        };
        let committed = path
            .committed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match (outcome, &committed) {
            (Err(error), None) => path.reply(Err(error)),
            (Err(error), Some(_)) => tracing::warn!(
                stream = path.binding.stream(),
                action = path.action,
                %error,
                "a wrapper failed after its write committed; the writer had its reply"
            ),
            (Ok(_), Some(_)) => {}
            // Only `Next::run` makes a `Written`; one that came from elsewhere left the writer
            // without a reply.
            (Ok(_), None) => {
                tracing::error!(
                    stream = path.binding.stream(),
                    action = path.action,
                    "a wrapper answered without running its write"
                );
                path.reply(Err(ApiError::internal()));
            }
        }
        if let Some(change) = committed {
            path.after_commit(change).await;
        }
    }

    /// What a hook sees of `write`.
    pub(super) fn call(&self, write: &Write) -> WriteCall {
        WriteCall {
            action: self.action.clone(),
            user: self.conn.user.clone(),
            system: self.system,
            key: write.pk(),
            values: write.values().cloned().unwrap_or_default(),
        }
    }

    pub(super) fn reply(&self, result: Result<Value, ApiError>) {
        crate::trace::record_outcome(&result);
        if result.is_ok() {
            crate::trace::record_rows(1);
        }
        let frame = match result {
            Ok(data) => encode_reply(&self.reply_to, &data),
            Err(error) => {
                self.conn.outcome.failed(error.code);
                encode_error(&self.reply_to, &error)
            }
        };
        self.conn.out.send(frame);
    }

    /// The built-in write: before-write hooks, then the write, its reply and its publish,
    /// under the row's stripe (or, for a create, its ticket): the writer's reply comes before
    /// the pushes its write causes, and pushes for one row leave in commit order, its
    /// creation first. An error is returned, not sent.
    async fn builtin(
        self: Arc<Self>,
        mut write: Write,
        render: Render,
    ) -> Result<Written, ApiError> {
        for hook in &self.binding.hooks().before {
            let call = self.call(&write);
            let values = guarded(&self, "before-write hook", || hook(call)).await?;
            write = write.with_values(values);
        }
        if let Some(unknown) = write
            .values()
            .and_then(|values| values.keys().find(|k| self.binding.get(k).is_none()))
        {
            tracing::error!(
                stream = self.binding.stream(),
                field = unknown,
                "a hook set a field the binding does not have"
            );
            return Err(ApiError::internal());
        }
        if let Write::Upsert(upsert) = write {
            return self.upsert(*upsert, render).await;
        }
        let inner = self.engine.inner();
        let stream = self.binding.stream();
        // An update or delete holds its row's stripe; a create, whose row has no id yet, holds
        // a ticket that later writes of the stream publish after (see `locks::Creates`).
        let (_guard, _ticket) = match write.pk() {
            Some(pk) => (Some(inner.locks.lock(stream, &pk).await), None),
            None => (None, Some(inner.creates.begin(stream))),
        };
        let create = write.pk().is_none();
        if let Write::Create { values } = &write {
            // A new row must land inside the writer's scope, or it could plant rows it may
            // not see.
            self.check_new_row(values).await?;
        }
        write = self.stamped(write);
        let pk = write.pk();
        let op = write.op(&inner.registry, &self.binding, self.versioned_scope());
        match inner.store.execute(op).await {
            Ok(StoreOutput::Changed(Some(change))) => {
                self.reply(Ok(render(&change)));
                if !create {
                    // The row may be one a create still in flight has just made.
                    inner.creates.settle(stream).await;
                }
                let written = Written {
                    key: change.pk.clone(),
                    row: change.new.clone(),
                };
                *self.committed.lock().unwrap_or_else(|p| p.into_inner()) = Some(change.clone());
                // An update that changed nothing has nothing to tell subscribers.
                if change.kind != ChangeKind::Updated || change.old != change.new {
                    self.engine.publish(change);
                }
                Ok(written)
            }
            Ok(StoreOutput::Changed(None)) if self.expect.is_some() => {
                Err(self.stale_or_missing(pk).await)
            }
            other => Err(failure(other)),
        }
    }

    /// Whether a new row lies inside the writer's scope. A scope through relations needs the
    /// related rows, so the store judges it.
    async fn check_new_row(&self, values: &Row) -> Result<(), ApiError> {
        let scope = self.view.scope();
        if !scope.has_paths() {
            return match scope.matches(values) {
                true => Ok(()),
                false => Err(refusal(self.conn.user.as_deref())),
            };
        }
        let op = StoreOp::Matches {
            binding: Arc::clone(&self.binding),
            filter: scope.clone(),
            rows: vec![values.clone()],
        };
        match self.engine.inner().store.execute(op).await {
            Ok(StoreOutput::Matches(answers)) if answers.first() == Some(&true) => Ok(()),
            Ok(StoreOutput::Matches(_)) => Err(refusal(self.conn.user.as_deref())),
            other => Err(failure(other)),
        }
    }

    /// Runs the after-commit hooks; their errors and panics are logged, the write stands.
    pub(super) async fn after_commit(&self, change: Change) {
        for hook in &self.binding.hooks().after {
            let action = match (self.upsert, change.kind) {
                (true, ChangeKind::Created) => "create".to_owned(),
                (true, _) => "update".to_owned(),
                (false, _) => self.action.clone(),
            };
            let done = Committed {
                action,
                user: self.conn.user.clone(),
                system: self.system,
                key: change.pk.clone(),
                row: change.new.clone(),
                engine: self.engine.clone(),
            };
            let future = match std::panic::catch_unwind(AssertUnwindSafe(|| hook(done))) {
                Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            match future {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(
                    stream = self.binding.stream(),
                    action = self.action,
                    %error,
                    "an after-commit hook failed; the write stands"
                ),
                Err(_) => tracing::error!(
                    stream = self.binding.stream(),
                    action = self.action,
                    "an after-commit hook panicked; the write stands"
                ),
            }
        }
    }
}

/// Calls a hook; a panic, in the call or in its future, is logged and becomes `internal`.
pub(super) async fn guarded<T, F>(
    path: &WritePath,
    what: &str,
    call: impl FnOnce() -> F,
) -> Result<T, ApiError>
where
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    let panicked = || {
        tracing::error!(
            stream = path.binding.stream(),
            action = path.action,
            "a {what} panicked"
        );
        ApiError::internal()
    };
    let future = std::panic::catch_unwind(AssertUnwindSafe(call)).map_err(|_| panicked())?;
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(panicked()))
}
