//! Running a planned batch: lock the rows it names, open the transaction, run each step
//! through its binding's permission pipeline, validation and hooks, then commit, reply,
//! publish each row once in its final state, and run the after-commit hooks.
//!
//! The no-gap rule (docs/protocol.md section 3) holds as for single writes: the batch holds
//! the stripe of every row it updates or deletes, and a ticket for every create, from before
//! its statement until its change is published; its reply comes before the pushes it causes.
//! Nobody sees anything of it before it commits, and if it fails nothing of it remains.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::super::job::{failure, Write};
use super::super::write::WritePath;
use super::super::Session;
use super::step::{SharedTx, StepRun};
use super::{merge, refs, BatchStep};
use crate::change::{Change, ChangeKind};
use crate::engine::Engine;
use crate::key::Key;
use crate::outbound::ConnHandle;
use crate::protocol::{encode_error, encode_reply, ApiError, ErrorCode};
use crate::render::render_row;

/// Runs the batch and queues its reply on `conn`.
pub(in crate::session) async fn run(
    engine: &Engine,
    conn: &ConnHandle,
    reply_to: String,
    system: bool,
    steps: Vec<BatchStep>,
    keyed: Vec<(String, Key)>,
) {
    let reply = |result: Result<Value, ApiError>| {
        crate::trace::record_outcome(&result);
        if let Some(results) = result.as_ref().ok().and_then(|r| r["results"].as_array()) {
            crate::trace::record_rows(results.len());
        }
        let frame = match result {
            Ok(data) => encode_reply(&reply_to, &data),
            Err(error) => {
                conn.outcome.failed(error.code);
                encode_error(&reply_to, &error)
            }
        };
        conn.out.send(frame);
    };
    let inner = engine.inner();
    // Plans each step as the connection's own session would: a transient session of the same
    // caller joins nothing and receives nothing.
    let planner = Session::new(
        engine.clone(),
        conn.id,
        conn.user.clone(),
        Arc::clone(&conn.out),
        true,
        system,
    );
    let mut held = inner
        .locks
        .lock_all(keyed.iter().map(|(stream, pk)| (stream.as_str(), pk)))
        .await;
    let tx: SharedTx = match Arc::clone(&inner.store).begin().await {
        Ok(tx) => Arc::new(tokio::sync::Mutex::new(Some(tx))),
        Err(e) => return reply(Err(failure(Err(e)))),
    };
    let mut tickets = Vec::new();
    let mut results: Vec<Value> = Vec::with_capacity(steps.len());
    let mut done: Vec<(Arc<StepRun>, Change)> = Vec::with_capacity(steps.len());
    for (i, step) in steps.into_iter().enumerate() {
        let BatchStep {
            binding,
            action,
            data,
        } = step;
        let stream = binding.stream();
        let planned = refs::resolve(data, &results).and_then(|data| {
            planner.check(stream, &action, &data)?;
            let view = planner.view(&binding, &action)?;
            let (data, expect) = crate::version::split(&binding, &data)?;
            let write = planner.write_of(&binding, &action, &data, &view)?;
            if expect.is_some() && write.pk().is_none() {
                return Err(crate::version::not_on_create());
            }
            Ok((view, write, expect))
        });
        let outcome = match planned {
            Ok((view, write, expect)) => {
                let busy = write.pk().is_some_and(|pk| !held.try_add(stream, &pk));
                if busy {
                    Err(ApiError::new(
                        ErrorCode::Unavailable,
                        "another request is writing a row of this step; try again",
                    ))
                } else {
                    if matches!(write, Write::Create { .. }) {
                        tickets.push(inner.creates.begin(stream));
                    }
                    let with_object = !matches!(write, Write::Delete { .. });
                    let step = Arc::new(StepRun {
                        path: WritePath {
                            engine: engine.clone(),
                            conn: conn.clone(),
                            reply_to: reply_to.clone(),
                            action: write.action(&action).to_owned(),
                            binding: Arc::clone(&binding),
                            view: Arc::clone(&view),
                            system,
                            committed: Mutex::new(None),
                            expect,
                            // A step is no upsert (docs/protocol.md section 2, "Batches").
                            upsert: false,
                        },
                        tx: Arc::clone(&tx),
                    });
                    let ran = super::RUNNING_STEP
                        .scope((), Arc::clone(&step).run(write))
                        .await;
                    let change = step
                        .path
                        .committed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    match (ran, change) {
                        (Ok(_), Some(change)) => {
                            let mut data = json!({"success": true, "id": change.pk});
                            if let Some(row) = change.new.as_ref().filter(|_| with_object) {
                                data["object"] = render_row(&binding, row, &view);
                            }
                            results.push(data);
                            done.push((step, change));
                            Ok(())
                        }
                        (Err(e), _) => Err(e),
                        (Ok(_), None) => {
                            tracing::error!(
                                stream,
                                action,
                                "a wrapper answered without running its write"
                            );
                            Err(ApiError::internal())
                        }
                    }
                }
            }
            Err(e) => Err(e),
        };
        if let Err(error) = outcome {
            rollback(&tx).await;
            return reply(Err(error.at_step(i)));
        }
    }
    let open = tx.lock().await.take();
    let committed = match open {
        Some(open) => open.commit().await,
        None => Err(crate::store::StoreError::Internal(
            "the batch's transaction has ended".into(),
        )),
    };
    if let Err(e) = committed {
        return reply(Err(failure(Err(e))));
    }
    reply(Ok(json!({"success": true, "results": results})));
    let settle: Vec<&str> = done
        .iter()
        .filter(|(_, c)| c.kind != ChangeKind::Created)
        .map(|(step, _)| step.path.binding.stream())
        .fold(Vec::new(), |mut streams, s| {
            if !streams.contains(&s) {
                streams.push(s);
            }
            streams
        });
    let (created, changed): (Vec<Change>, Vec<Change>) =
        merge::final_changes(done.iter().map(|(_, c)| c.clone()).collect())
            .into_iter()
            .partition(|c| c.kind == ChangeKind::Created);
    // The batch's own creations first, then its tickets close: its updates may wait for
    // creates still in flight elsewhere, as a single update does, but not for its own.
    for change in created {
        engine.publish(change);
    }
    drop(tickets);
    for stream in settle {
        inner.creates.settle(stream).await;
    }
    for change in changed {
        engine.publish(change);
    }
    drop(held);
    for (step, change) in done {
        step.path.after_commit(change).await;
    }
}

/// Rolls the batch's transaction back; a failure is only logged, as nothing was committed.
async fn rollback(tx: &SharedTx) {
    let open = tx.lock().await.take();
    if let Some(open) = open {
        if let Err(error) = open.rollback().await {
            tracing::warn!(%error, "a batch's rollback failed; its transaction is abandoned");
        }
    }
}
