//! Running a planned request: the store call, the reply, the subscription and the publish,
//! in the order that keeps the no-gap rule.

use crate::key::Key;
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};

use super::write::WritePath;
use crate::actors::StreamMsg;
use crate::binding::{Handler, ModelBinding, Registry};
use crate::change::{Change, ChangeKind};
use crate::engine::Engine;
use crate::filter::Filter;
use crate::form::form_fields;
use crate::outbound::{ConnHandle, Outbound, SubKey};
use crate::permission::View;
use crate::protocol::{encode_error, encode_reply, ApiError, EventName};
use crate::query::QuerySpec;
use crate::render::render_row;
use crate::store::{StoreError, StoreOp, StoreOutput};
use crate::trace::RequestTrace;
use crate::value::Row;
use tracing::{Instrument, Span};

/// A validated write.
pub(super) enum Write {
    Create {
        values: Row,
    },
    Update {
        pk: Key,
        values: Row,
    },
    Delete {
        pk: Key,
    },
    /// A create that becomes an update of the row holding its key or unique value.
    Upsert(Box<super::upsert::UpsertWrite>),
}

impl Write {
    pub(super) fn pk(&self) -> Option<Key> {
        match self {
            Write::Create { .. } => None,
            Write::Update { pk, .. } | Write::Delete { pk } => Some(pk.clone()),
            Write::Upsert(upsert) => upsert.key.clone(),
        }
    }

    /// The values written; `None` for a delete.
    pub(super) fn values(&self) -> Option<&Row> {
        match self {
            Write::Create { values } | Write::Update { values, .. } => Some(values),
            Write::Delete { .. } => None,
            Write::Upsert(upsert) => Some(upsert.values()),
        }
    }

    /// The same write with other values (a hook's); a delete stays as it is.
    pub(super) fn with_values(self, values: Row) -> Write {
        match self {
            Write::Create { .. } => Write::Create { values },
            Write::Update { pk, .. } => Write::Update { pk, values },
            delete @ Write::Delete { .. } => delete,
            Write::Upsert(upsert) => Write::Upsert(Box::new(upsert.with_values(values))),
        }
    }

    /// The action hooks see: the request's own, except that a form's submit and a `save`
    /// without an id are the create (or, for a form, the update) they are.
    pub(super) fn action<'a>(&self, request: &'a str) -> &'a str {
        match (request, self) {
            ("form" | "save", Write::Create { .. }) => "create",
            ("form", _) => "update",
            (action, _) => action,
        }
    }

    pub(super) fn op(
        self,
        registry: &Registry,
        binding: &Arc<ModelBinding>,
        scope: Filter,
    ) -> StoreOp {
        let referrers = match self {
            Write::Delete { .. } => registry.referrers(binding.stream()),
            _ => Vec::new(),
        };
        let binding = Arc::clone(binding);
        match self {
            Write::Create { values } => StoreOp::Insert { binding, values },
            Write::Update { pk, values } => StoreOp::Update {
                binding,
                pk,
                values,
                scope,
            },
            Write::Delete { pk } => StoreOp::Delete {
                binding,
                pk,
                scope,
                referrers,
            },
            Write::Upsert(upsert) => StoreOp::Upsert(upsert.op(&binding, upsert.key.clone())),
        }
    }
}

/// What a request asks for.
pub(super) enum Work {
    Retrieve {
        binding: Arc<ModelBinding>,
        pk: Key,
        key: Option<SubKey>,
        view: Arc<View>,
    },
    Query {
        spec: Arc<QuerySpec>,
        key: Option<SubKey>,
    },
    Feed {
        key: SubKey,
        filter: Filter,
        view: Arc<View>,
        relations: crate::expand::Relations,
    },
    Write {
        binding: Arc<ModelBinding>,
        write: Write,
        view: Arc<View>,
        /// The version the write's `if_version` expects (see `crate::version`).
        expect: Option<Value>,
    },
    Form {
        binding: Arc<ModelBinding>,
        pk: Option<Key>,
        submit: Option<Write>,
        view: Arc<View>,
        expect: Option<Value>,
    },
    Unsubscribe,
    /// Joined a custom stream's group; nothing else to do.
    Joined,
    Custom {
        handler: Arc<dyn Handler>,
        data: Map<String, Value>,
    },
    /// A retry of a write whose first request is still running: its answer, once it has one.
    Replay(crate::idempotency::Wait),
    /// A `batch` (see `batch.rs`): its steps, and the rows they name by key.
    Batch {
        steps: Vec<super::batch::BatchStep>,
        keyed: Vec<(String, Key)>,
    },
    /// An `auth.refresh` (see `refresh.rs`).
    Refresh {
        identity: Arc<super::identity::Identity>,
        token: String,
    },
}

/// A request that needs the store, the actors or a handler. Run it with [`Job::run`]; it
/// queues its own reply on the connection.
pub struct Job {
    engine: Engine,
    conn: ConnHandle,
    event: EventName,
    work: Work,
    /// Application code with every right: what hooks are told.
    system: bool,
    /// The request's span and clock, set by [`Session::handle_text`](super::Session): the
    /// job runs inside the span, and its end is the request's end.
    pub(super) trace: Option<RequestTrace>,
    /// The request metrics it is counted in when it ends.
    meter: Option<crate::metrics::Meter>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("event", &self.event)
            .field("conn", &self.conn)
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl Job {
    pub(super) fn new(
        engine: Engine,
        conn: ConnHandle,
        event: EventName,
        work: Work,
        system: bool,
    ) -> Self {
        Job {
            engine,
            conn,
            event,
            work,
            system,
            trace: None,
            meter: None,
        }
    }

    /// Counts the job in the request metrics when it ends.
    pub(super) fn meter(&mut self, meter: crate::metrics::Meter) {
        self.meter = Some(meter);
    }

    /// Sends the job's frames through the outbound `wrap` makes of the connection's.
    pub(super) fn reroute(&mut self, wrap: impl FnOnce(Arc<dyn Outbound>) -> Arc<dyn Outbound>) {
        self.conn.out = wrap(Arc::clone(&self.conn.out));
    }

    /// The event the reply will carry.
    pub fn event(&self) -> &EventName {
        &self.event
    }

    /// The subscription the job opens or replaces, if any.
    pub(super) fn subscription(&self) -> Option<&SubKey> {
        match &self.work {
            Work::Retrieve { key, .. } | Work::Query { key, .. } => key.as_ref(),
            Work::Feed { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Runs the job to completion inside its request's span, in the connection's turn: after
    /// the re-check the application may be running on it, before its next request.
    pub async fn run(mut self) {
        let trace = self.trace.take();
        let meter = self.meter.take();
        let span = trace.as_ref().map_or_else(Span::none, |t| t.span().clone());
        let conn = self.conn.clone();
        let gate = Arc::clone(&self.conn.gate);
        async move {
            let _turn = gate.lock().await;
            // Whatever an earlier job left (none should) is not this one's.
            conn.outcome.take();
            self.run_turn().await;
            if let Some(meter) = meter {
                meter.finish(conn.outcome.take());
            }
        }
        .instrument(span)
        .await;
        // The request ends here: dropping its trace records the duration.
        drop(trace);
    }

    /// Runs the job; the caller holds the connection's turn (a re-check runs the
    /// connection's subscribing requests again inside its own).
    pub(super) async fn run_turn(self) {
        let Job {
            engine,
            conn,
            event,
            work,
            system,
            trace: _,
            meter: _,
        } = self;
        let run = Run {
            engine: &engine,
            conn: &conn,
            event: &event,
            reply_to: event.to_string(),
            system,
        };
        match work {
            Work::Retrieve {
                binding,
                pk,
                key,
                view,
            } => run.retrieve(&binding, pk, key, view).await,
            Work::Query { spec, key } => run.query(spec, key).await,
            Work::Feed {
                key,
                filter,
                view,
                relations,
            } => {
                run.send_to_stream(StreamMsg::WatchFeed {
                    conn: conn.clone(),
                    key,
                    event: event.clone(),
                    filter,
                    view,
                    relations,
                });
                run.reply(Ok(json!({"success": true})));
            }
            Work::Write {
                binding,
                write,
                view,
                expect,
            } => {
                let with_object = !matches!(write, Write::Delete { .. });
                // An upsert's reply says which it turned out to be.
                let upsert = matches!(write, Write::Upsert(_));
                let (shown, seen) = (Arc::clone(&binding), Arc::clone(&view));
                let render = Box::new(move |change: &Change| {
                    let mut data = json!({"success": true, "id": change.pk});
                    if let Some(row) = change.new.as_ref().filter(|_| with_object) {
                        data["object"] = render_row(&shown, row, &seen);
                    }
                    if upsert {
                        data["created"] = Value::Bool(change.kind == ChangeKind::Created);
                    }
                    data
                });
                run.write(binding, write, view, render, expect).await
            }
            Work::Form {
                binding,
                pk,
                submit,
                view,
                expect,
            } => run.form(binding, pk, submit, view, expect).await,
            Work::Unsubscribe => {
                let removed = match engine.inner().streams.get(event.stream()) {
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
                run.reply(Ok(json!({"success": true, "removed": removed})));
            }
            Work::Joined => run.reply(Ok(json!({"success": true}))),
            Work::Batch { steps, keyed } => {
                super::batch::run(&engine, &conn, event.to_string(), system, steps, keyed).await
            }
            Work::Custom { handler, data } => {
                let ctx = crate::binding::EventContext {
                    engine: engine.clone(),
                    conn: conn.clone(),
                    event: event.clone(),
                    data,
                };
                match super::custom::call(handler, ctx).await {
                    Ok(Some(data)) => run.reply(Ok(data)),
                    Ok(None) => crate::trace::record_outcome::<()>(&Ok(())),
                    Err(e) => run.reply(Err(e)),
                }
            }
            Work::Replay(wait) => super::request_id::replay(wait, &conn, &event).await,
            Work::Refresh { identity, token } => {
                match super::refresh::run(&engine, &identity, &token).await {
                    Ok((reply, user)) => {
                        run.reply(Ok(reply));
                        super::recheck::run(&engine, &identity, user).await;
                    }
                    Err(error) => run.reply(Err(error)),
                }
            }
        }
    }
}

/// One running job's context.
struct Run<'a> {
    engine: &'a Engine,
    conn: &'a ConnHandle,
    event: &'a EventName,
    reply_to: String,
    system: bool,
}

impl Run<'_> {
    fn reply(&self, result: Result<Value, ApiError>) {
        crate::trace::record_outcome(&result);
        let frame = match result {
            Ok(data) => encode_reply(&self.reply_to, &data),
            Err(error) => {
                self.conn.outcome.failed(error.code);
                encode_error(&self.reply_to, &error)
            }
        };
        self.conn.out.send(frame);
    }

    fn send_to_stream(&self, msg: StreamMsg) {
        let inner = self.engine.inner();
        let stream = self.event.stream();
        if let Some(actor) = inner.streams.get(stream) {
            if msg.is_subscription() {
                if let Some(interest) = inner.interest.get(stream) {
                    interest.announce();
                }
            }
            if msg.announces_related() {
                if let Some(interest) = inner.related_interest.get(stream) {
                    interest.announce();
                }
            }
            let _ = actor.send_message(msg);
        }
    }

    /// Frees a subscription slot whose request failed.
    fn forget(&self, key: SubKey) {
        // Free the slot now; the actor drops its copy in its own time.
        self.conn.forget(&key);
        self.send_to_stream(StreamMsg::Forget {
            conn: self.conn.id,
            key,
        });
    }

    async fn retrieve(
        &self,
        binding: &Arc<ModelBinding>,
        pk: Key,
        key: Option<SubKey>,
        view: Arc<View>,
    ) {
        let inner = self.engine.inner();
        // Hold the row's stripe from registering until the reply is queued, so every change is
        // either in the snapshot or pushed after it.
        let _guard = inner.locks.lock(binding.stream(), &pk).await;
        if let Some(key) = &key {
            self.send_to_stream(StreamMsg::WatchRow {
                conn: self.conn.clone(),
                key: key.clone(),
                event: self.event.clone(),
                view: Arc::clone(&view),
            });
        }
        let op = StoreOp::Get {
            binding: Arc::clone(binding),
            pk,
            scope: view.scope().clone(),
        };
        match inner.store.execute(op).await {
            Ok(StoreOutput::Row(Some(row))) => {
                crate::trace::record_rows(1);
                self.reply(Ok(render_row(binding, &row, &view)))
            }
            other => {
                if let Some(key) = key {
                    self.forget(key);
                }
                self.reply(Err(failure(other)));
            }
        }
    }

    async fn query(&self, spec: Arc<QuerySpec>, key: Option<SubKey>) {
        if let Some(key) = &key {
            self.send_to_stream(StreamMsg::WatchQuery {
                conn: self.conn.clone(),
                key: key.clone(),
                event: self.event.clone(),
                spec: Arc::clone(&spec),
            });
        }
        let read = spec.read(&*self.engine.inner().store).await;
        if let Ok(Some(fresh)) = &read {
            if let Some(rows) = fresh.data.get("rows").and_then(Value::as_array) {
                crate::trace::record_rows(rows.len());
            }
        }
        match (read, key) {
            // The reply goes through the actor, in order with the query's pushes.
            (Ok(Some(fresh)), Some(key)) => {
                crate::trace::record_outcome::<()>(&Ok(()));
                let frame = encode_reply(&self.reply_to, &fresh.data);
                self.send_to_stream(StreamMsg::Snapshot {
                    conn: self.conn.clone(),
                    key,
                    frame,
                    data: Arc::new(fresh.data),
                    watch: fresh.watch,
                });
            }
            (Ok(Some(fresh)), None) => self.reply(Ok(fresh.data)),
            (failed, key) => {
                if let Some(key) = key {
                    self.forget(key);
                }
                let error = match failed {
                    Ok(_) => ApiError::not_found(),
                    Err(e) => failure(Err(e)),
                };
                self.reply(Err(error));
            }
        }
    }

    /// Runs a write through the binding's hooks (see `write.rs`).
    async fn write(
        &self,
        binding: Arc<ModelBinding>,
        write: Write,
        view: Arc<View>,
        render: super::write::Render,
        expect: Option<Value>,
    ) {
        let path = WritePath {
            engine: self.engine.clone(),
            conn: self.conn.clone(),
            reply_to: self.reply_to.clone(),
            action: write.action(self.event.action()).to_owned(),
            upsert: matches!(write, Write::Upsert(_)),
            binding,
            view,
            system: self.system,
            committed: Mutex::new(None),
            expect,
        };
        path.run(write, render).await
    }

    async fn form(
        &self,
        binding: Arc<ModelBinding>,
        pk: Option<Key>,
        submit: Option<Write>,
        view: Arc<View>,
        expect: Option<Value>,
    ) {
        if let Some(write) = submit {
            let (shown, seen) = (Arc::clone(&binding), Arc::clone(&view));
            let render = Box::new(move |change: &Change| {
                let row = change.new.as_ref();
                json!({
                    "id": change.pk,
                    "fields": form_fields(&shown, row, &seen),
                    "object": row.map(|r| render_row(&shown, r, &seen)),
                    "success": true,
                })
            });
            return self.write(binding, write, view, render, expect).await;
        }
        let (binding, view) = (&binding, &*view);
        let Some(pk) = pk else {
            return self.reply(Ok(
                json!({"id": null, "fields": form_fields(binding, None, view), "object": null}),
            ));
        };
        let op = StoreOp::Get {
            binding: Arc::clone(binding),
            pk: pk.clone(),
            scope: view.scope().clone(),
        };
        match self.engine.inner().store.execute(op).await {
            Ok(StoreOutput::Row(Some(row))) => self.reply(Ok(json!({
                "id": pk,
                "fields": form_fields(binding, Some(&row), view),
                "object": render_row(binding, &row, view),
            }))),
            other => self.reply(Err(failure(other))),
        }
    }
}

/// The client's error for an unexpected or failed store answer. Store failures are logged
/// here with their detail; the client gets only the code.
pub(super) fn failure(result: Result<StoreOutput, StoreError>) -> ApiError {
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
