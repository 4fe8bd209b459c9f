//! `batch`: several writes, across bindings, in one store transaction (docs/protocol.md
//! section 2, "Batches"). All apply or none does.
//!
//! Planning here checks what can be checked before anything runs: the batch's shape and size
//! (`max_batch_steps`), each step's stream and action (writes only), its `$ref`s (to an
//! earlier step, and a field that step's row has) and any key given outright. The rest of
//! each step (the permission pipeline, validation, hooks) runs in [`run`], step by step,
//! once its `$ref`s are resolved. Every error names the failing step in `step`.

mod merge;
mod refs;
mod run;
mod step;

pub(super) use run::run;

use std::sync::Arc;

use serde_json::{Map, Value};

use super::job::{Job, Work};
use super::{request, Session, Step};
use crate::binding::{ModelBinding, WRITE_ACTIONS};
use crate::key::Key;
use crate::protocol::{ApiError, ErrorCode, EventName};

tokio::task_local! {
    /// Set while a batch step's wrapper, before-write hooks and store op run.
    static RUNNING_STEP: ();
}

/// Whether the calling task is running a batch step: its hooks must not call the engine, which
/// would run outside the batch's transaction (and, on the in-memory store, wait for the batch
/// to end while the batch waits for the hook).
pub(crate) fn in_batch_step() -> bool {
    RUNNING_STEP.try_with(|_| ()).is_ok()
}

/// One step of a planned batch.
pub(super) struct BatchStep {
    binding: Arc<ModelBinding>,
    /// `create`, `update`, `save` or `delete`.
    action: String,
    /// The step's data, `$ref`s still in it.
    data: Map<String, Value>,
}

/// The actions a client may ask for that only read: a batch refuses them.
const READS: [&str; 6] = [
    "retrieve",
    "search",
    "list",
    "subscribe",
    "unsubscribe",
    "form",
];

impl Session {
    /// Plans a `batch`: its steps, checked as far as they can be before any runs.
    pub(super) fn plan_batch(
        &mut self,
        event: EventName,
        data: Map<String, Value>,
    ) -> Result<Step, ApiError> {
        let steps = match data.get("steps") {
            Some(Value::Array(steps)) => steps,
            _ => return Err(ApiError::bad_request("a batch needs \"steps\", a list")),
        };
        if steps.is_empty() {
            return Err(ApiError::bad_request("a batch needs at least one step"));
        }
        let max = self.engine.limits().max_batch_steps;
        if steps.len() > max {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("a batch has at most {max} steps (max_batch_steps)"),
            ));
        }
        let mut planned: Vec<BatchStep> = Vec::with_capacity(steps.len());
        let mut keyed: Vec<(String, Key)> = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let (step, key) = self.plan_step(step, &planned).map_err(|e| e.at_step(i))?;
            if let Some(pk) = key {
                keyed.push((step.binding.stream().to_owned(), pk));
            }
            planned.push(step);
        }
        Ok(Step::Run(Box::new(Job::new(
            self.engine.clone(),
            self.conn.clone(),
            event,
            Work::Batch {
                steps: planned,
                keyed,
            },
            self.system,
        ))))
    }

    /// One step: its binding, action and data, and its key when given outright.
    fn plan_step(
        &self,
        step: &Value,
        before: &[BatchStep],
    ) -> Result<(BatchStep, Option<Key>), ApiError> {
        let shape = || {
            ApiError::bad_request("a step is {\"event\": \"<stream>.<action>\", \"data\": {...}}")
        };
        let Value::Object(step) = step else {
            return Err(shape());
        };
        let Some(Value::String(event)) = step.get("event") else {
            return Err(shape());
        };
        let data = match step.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data.clone(),
            Some(_) => return Err(shape()),
        };
        let event = EventName::parse(event).map_err(|e| match e {
            crate::protocol::EventNameError::Shape => {
                ApiError::new(ErrorCode::UnknownEvent, e.to_string())
            }
            crate::protocol::EventNameError::Hash => ApiError::bad_request(e.to_string()),
        })?;
        if event.is_batch() {
            return Err(ApiError::bad_request("a batch cannot hold a batch"));
        }
        if event.hash().is_some() {
            return Err(ApiError::bad_request(
                "a step's event has no hash; the batch's reply carries the batch's",
            ));
        }
        let registry = self.engine.registry();
        let (stream, action) = (event.stream(), event.action());
        if !registry.has_stream(stream) {
            return Err(ApiError::new(
                ErrorCode::UnknownEvent,
                format!("no stream {stream}"),
            ));
        }
        let binding = registry.get(stream).cloned();
        let written = WRITE_ACTIONS.contains(&action);
        let Some(binding) =
            binding.filter(|_| written && registry.handler(stream, action).is_none())
        else {
            if READS.contains(&action) && registry.get(stream).is_some() {
                return Err(ApiError::bad_request(format!(
                    "a batch holds writes only (create, update, save, delete), not {action}"
                )));
            }
            return Err(ApiError::new(
                ErrorCode::UnknownEvent,
                format!("{stream} has no built-in write action {action}"),
            ));
        };
        for r in refs::refs_in(&data)? {
            let target = before.get(r.step).ok_or_else(|| refs::not_before(&r))?;
            let has = match target.action.as_str() {
                "delete" => r.field == crate::binding::PK,
                _ => r.field == crate::binding::PK || target.binding.get(&r.field).is_some(),
            };
            if !has {
                return Err(ApiError::bad_request(format!(
                    "$ref {}.{}: the row of step {} has no field {}",
                    r.step, r.field, r.step, r.field
                )));
            }
        }
        // A key given outright is checked now, and its row locked before the batch starts.
        let key = match data.get(crate::binding::PK) {
            Some(id) if refs::is_ref(id) => None,
            _ if action == "create" => None,
            _ => request::opt_pk(&binding, &data)?,
        };
        Ok((
            BatchStep {
                binding,
                action: action.to_owned(),
                data,
            },
            key,
        ))
    }
}
