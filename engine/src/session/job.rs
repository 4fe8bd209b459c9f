//! Running a planned request: the store call, the reply, the subscription and the publish,
//! in the order that keeps the no-gap rule.

use std::sync::Arc;

use serde_json::{json, Value};

use super::render_row;
use crate::actors::StreamMsg;
use crate::binding::ModelBinding;
use crate::engine::Engine;
use crate::filter::{Filter, Ordering};
use crate::outbound::{ConnHandle, SubKey};
use crate::protocol::{encode_error, encode_reply, ApiError, EventName};
use crate::store::{StoreError, StoreOp, StoreOutput};
use crate::value::Row;

/// What a request asks the store to do.
pub(super) enum Work {
    Retrieve {
        pk: i64,
        key: Option<SubKey>,
    },
    Search {
        filter: Filter,
        order: Ordering,
        page: u64,
        limit: u64,
    },
    List {
        filter: Filter,
        order: Ordering,
        limit: u64,
    },
    Create {
        values: Row,
    },
    Update {
        pk: i64,
        values: Row,
    },
    Delete {
        pk: i64,
    },
    Unsubscribe,
}

/// A request that needs the store or the actors. Run it with [`Job::run`]; it queues its own
/// reply on the connection.
pub struct Job {
    engine: Engine,
    conn: ConnHandle,
    event: EventName,
    binding: Arc<ModelBinding>,
    work: Work,
}

impl Job {
    pub(super) fn new(
        engine: Engine,
        conn: ConnHandle,
        event: EventName,
        binding: Arc<ModelBinding>,
        work: Work,
    ) -> Self {
        Job {
            engine,
            conn,
            event,
            binding,
            work,
        }
    }

    /// The event the reply will carry.
    pub fn event(&self) -> &EventName {
        &self.event
    }

    /// Runs the job: performs the store call, queues the reply, and publishes any change.
    pub async fn run(self) {
        let Job {
            engine,
            conn,
            event,
            binding,
            work,
        } = self;
        let inner = engine.inner();
        let reply_event = event.to_string();
        let reply = |result: Result<Value, ApiError>| {
            let frame = match result {
                Ok(data) => encode_reply(&reply_event, &data),
                Err(error) => encode_error(&reply_event, &error),
            };
            conn.out.send(frame);
        };
        let stream = binding.stream().to_owned();
        let scope = Filter::everything();
        match work {
            Work::Retrieve { pk, key } => {
                // Hold the row's stripe from registering until the reply is queued, so every
                // change is either in the snapshot or pushed after it.
                let _guard = inner.locks.lock(&stream, pk).await;
                if let (Some(key), Some(actor)) = (&key, inner.streams.get(&stream)) {
                    let _ = actor.send_message(StreamMsg::Subscribe {
                        conn: conn.clone(),
                        key: key.clone(),
                        event: event.clone(),
                    });
                }
                let result = inner
                    .store
                    .execute(StoreOp::Get {
                        binding: Arc::clone(&binding),
                        pk,
                        scope,
                    })
                    .await;
                match result {
                    Ok(StoreOutput::Row(Some(row))) => reply(Ok(render_row(&binding, &row))),
                    other => {
                        if let (Some(key), Some(actor)) = (key, inner.streams.get(&stream)) {
                            // Free the slot now; the actor drops its copy in its own time.
                            conn.forget(&key);
                            let _ = actor.send_message(StreamMsg::Forget { conn: conn.id, key });
                        }
                        reply(Err(failure(other)));
                    }
                }
            }
            Work::Search {
                filter,
                order,
                page,
                limit,
            } => {
                let offset = (page - 1).saturating_mul(limit);
                let op = StoreOp::Search {
                    binding: Arc::clone(&binding),
                    filter,
                    order: order.clone(),
                    offset,
                    limit,
                };
                reply(match inner.store.execute(op).await {
                    Ok(StoreOutput::Page { count, rows }) => Ok(json!({
                        "page": page,
                        "limit": limit,
                        "count": count,
                        "order": order.to_json(),
                        "rows": rows.iter().map(|r| render_row(&binding, r)).collect::<Vec<_>>(),
                    })),
                    other => Err(failure(other)),
                });
            }
            Work::List {
                filter,
                order,
                limit,
            } => {
                let op = StoreOp::Search {
                    binding: Arc::clone(&binding),
                    filter,
                    order,
                    offset: 0,
                    limit,
                };
                reply(match inner.store.execute(op).await {
                    Ok(StoreOutput::Page { count, rows }) => Ok(json!({
                        "count": count,
                        "rows": rows.iter().map(|r| render_row(&binding, r)).collect::<Vec<_>>(),
                    })),
                    other => Err(failure(other)),
                });
            }
            Work::Create { values } => {
                let op = StoreOp::Insert {
                    binding: Arc::clone(&binding),
                    values,
                };
                write(&engine, &binding, op, &reply, |_| true).await;
            }
            Work::Update { pk, values } => {
                let _guard = inner.locks.lock(&stream, pk).await;
                let op = StoreOp::Update {
                    binding: Arc::clone(&binding),
                    pk,
                    values,
                    scope,
                };
                write(&engine, &binding, op, &reply, |_| true).await;
            }
            Work::Delete { pk } => {
                let _guard = inner.locks.lock(&stream, pk).await;
                let op = StoreOp::Delete {
                    binding: Arc::clone(&binding),
                    pk,
                    scope,
                };
                write(&engine, &binding, op, &reply, |_| false).await;
            }
            Work::Unsubscribe => {
                let removed = match inner.streams.get(&stream) {
                    Some(actor) => {
                        let hash = event.hash().map(str::to_owned);
                        ractor::call!(actor, |reply| StreamMsg::Unsubscribe {
                            conn: conn.id,
                            hash,
                            reply
                        })
                        .unwrap_or(0)
                    }
                    None => 0,
                };
                reply(Ok(json!({"success": true, "removed": removed})));
            }
        }
    }
}

/// Runs a write, queues its reply, then publishes its change: the writer's reply always comes
/// before the pushes its write causes. `with_object` says whether the reply carries the row.
async fn write(
    engine: &Engine,
    binding: &ModelBinding,
    op: StoreOp,
    reply: &impl Fn(Result<Value, ApiError>),
    with_object: impl Fn(&Row) -> bool,
) {
    match engine.inner().store.execute(op).await {
        Ok(StoreOutput::Changed(Some(change))) => {
            let mut data = json!({"success": true, "id": change.pk});
            if let Some(row) = change.new.as_ref().filter(|r| with_object(r)) {
                data["object"] = render_row(binding, row);
            }
            reply(Ok(data));
            engine.publish(change);
        }
        other => reply(Err(failure(other))),
    }
}

/// The client's error for an unexpected or failed store answer. Store failures are logged
/// here with their detail; the client gets only the code.
fn failure(result: Result<StoreOutput, StoreError>) -> ApiError {
    match result {
        Ok(StoreOutput::Row(None)) | Ok(StoreOutput::Changed(None)) => ApiError::not_found(),
        Ok(other) => {
            tracing::error!(?other, "store answered with the wrong shape");
            ApiError::internal()
        }
        Err(e) => {
            match &e {
                StoreError::Conflict { .. } => tracing::debug!(error = %e, "write refused"),
                _ => tracing::warn!(error = %e, "store failure"),
            }
            e.to_api()
        }
    }
}
