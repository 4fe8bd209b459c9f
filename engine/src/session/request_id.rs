//! A write's `request_id` (docs/protocol.md section 2, "Request ids"): taken out of the
//! request's `data`, looked up among its owner's recent ones in the engine, and either
//! answered with the first request's answer (at once, or once the first is done) or claimed,
//! in which case the job's reply is recorded on its way to the connection.

use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::job::{Job, Work};
use super::{Session, Step};
use crate::admission::Holder;
use crate::idempotency::{Claim, Fingerprint, Lookup, Outcome, Owner, Wait};
use crate::outbound::{ConnHandle, Outbound, SubKey};
use crate::protocol::{encode_error, ApiError, ErrorCode, EventName, Frame, Inbound};

/// The key of `data` that carries the id.
pub(crate) const REQUEST_ID: &str = "request_id";

/// What a request's id decided.
pub(super) enum Claimed {
    /// Plan and run the request; its answer finishes the claim, if it has one.
    Run(Inbound, Claiming),
    /// The request was answered before, or waits for the first one's answer.
    Answered(Step),
}

/// A request's claim on its id, if it carries one.
pub(super) struct Claiming(Option<Claim>);

impl Claiming {
    /// Records the answer of the request's job, if it claimed an id.
    pub(super) fn record(self, step: Step, reply_to: &str) -> Step {
        match (step, self.0) {
            (Step::Run(mut job), Some(claim)) => {
                job.reroute(|out| {
                    Arc::new(Recorder {
                        out,
                        reply_to: reply_to.to_owned(),
                        claim: Mutex::new(Some(claim)),
                    })
                });
                Step::Run(job)
            }
            (step, claim) => {
                drop(claim);
                step
            }
        }
    }

    /// A request refused before it ran: its waiting retries get the refusal, later ones are
    /// checked again.
    pub(super) fn refused(self, error: &ApiError) {
        if let Some(claim) = self.0 {
            let outcome = Outcome::Error(serde_json::to_value(error).unwrap_or(Value::Null));
            claim.finish(outcome, false, 0);
        }
    }
}

impl Session {
    /// Takes a write's `request_id` out of its data and looks it up.
    pub(super) fn claim_request_id(&self, mut inbound: Inbound) -> Result<Claimed, ApiError> {
        if !self.carries_request_id(&inbound) {
            return Ok(Claimed::Run(inbound, Claiming(None)));
        }
        let max = self.engine.limits().max_request_id_length;
        let Some(id) = take_request_id(&mut inbound.data, max)? else {
            return Ok(Claimed::Run(inbound, Claiming(None)));
        };
        let ids = &self.engine.inner().request_ids;
        match ids.claim(self.request_id_owner(), id, fingerprint(&inbound)) {
            Lookup::Fresh(claim) => Ok(Claimed::Run(inbound, Claiming(Some(claim)))),
            Lookup::Answered(outcome) => {
                record_outcome(Some(&outcome));
                Ok(Claimed::Answered(Step::Reply(replayed(
                    &inbound.event.to_string(),
                    &outcome,
                ))))
            }
            Lookup::Running(wait) => Ok(Claimed::Answered(Step::Run(Box::new(Job::new(
                self.engine.clone(),
                self.conn.clone(),
                inbound.event,
                Work::Replay(wait),
                self.system,
            ))))),
            Lookup::Mismatch => Err(ApiError::bad_request(
                "request_id was already used for a different request",
            )),
        }
    }

    /// Whether the request is a write that may carry a `request_id`: a model binding's
    /// `create`, `update`, `save`, `delete`, a `form` submit, or a `batch` (one id for all
    /// its steps). A custom event's data is its handler's, `request_id` included.
    fn carries_request_id(&self, inbound: &Inbound) -> bool {
        let registry = self.engine.registry();
        let (stream, action) = (inbound.event.stream(), inbound.event.action());
        // A batch names no stream (docs/protocol.md section 2, "Batches").
        if stream.is_empty() && action == "batch" {
            return true;
        }
        if registry.handler(stream, action).is_some() || registry.get(stream).is_none() {
            return false;
        }
        match action {
            "create" | "update" | "save" | "delete" => true,
            "form" => !matches!(inbound.data.get("submit"), None | Some(Value::Null)),
            _ => false,
        }
    }

    /// Whose ids the request's is looked up among: its user's, over every connection and
    /// transport; for an anonymous client its address's, or its connection's when the address
    /// is not known; application code's own.
    fn request_id_owner(&self) -> Owner {
        if self.system {
            return Owner::System;
        }
        match (&self.conn.user, &self.holder) {
            (Some(user), _) => Owner::User(user.id),
            (None, Some(Holder::Address(address))) => Owner::Address(*address),
            _ => Owner::Connection(self.conn.id),
        }
    }
}

/// Takes `request_id` out of `data`: absent or null is none; anything but a string of 1 to
/// `max` characters among `A-Z a-z 0-9 _ . : -` is `bad_request`.
pub(crate) fn take_request_id(
    data: &mut Map<String, Value>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match data.remove(REQUEST_ID) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => check_request_id(&id, max).map(|()| Some(id)),
        Some(_) => Err(ApiError::bad_request("request_id must be a string")),
    }
}

/// Whether `id` is a well-formed request id of at most `max` characters.
pub(crate) fn check_request_id(id: &str, max: usize) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    if id.is_empty() || id.chars().count() > max || !id.chars().all(allowed) {
        return Err(ApiError::bad_request(format!(
            "request_id must be 1 to {max} characters among A-Z a-z 0-9 _ . : -"
        )));
    }
    Ok(())
}

/// What the request asks, whatever its hash: its stream, action and data (its id taken out).
/// `data` is a sorted map, so the same object always encodes alike.
fn fingerprint(inbound: &Inbound) -> Fingerprint {
    let mut digest = Sha256::new();
    digest.update(inbound.event.stream());
    digest.update(".");
    digest.update(inbound.event.action());
    digest.update("\0");
    digest.update(Value::Object(inbound.data.clone()).to_string());
    digest.finalize().into()
}

/// The first request's answer under the retry's event, marked `"replayed": true`.
fn replayed(event: &str, outcome: &Outcome) -> Frame {
    let frame = match outcome {
        Outcome::Data(data) => json!({"event": event, "data": data, "replayed": true}),
        Outcome::Error(error) => json!({"event": event, "error": error, "replayed": true}),
    };
    Frame::from(frame.to_string())
}

/// A retry's job while the first request runs: waits for its answer and sends it.
pub(super) async fn replay(wait: Wait, conn: &ConnHandle, event: &EventName) {
    let event = event.to_string();
    let outcome = wait.outcome().await;
    record_outcome(outcome.as_deref());
    let frame = match outcome {
        Some(outcome) => replayed(&event, &outcome),
        None => {
            conn.outcome.failed(ErrorCode::Unavailable);
            encode_error(
                &event,
                &ApiError::new(
                    ErrorCode::Unavailable,
                    "the first request with this request_id ended without an answer; send it again",
                ),
            )
        }
    };
    conn.out.send(frame);
}

/// Records a replayed answer's outcome on the retry's request span (the current one): `ok`,
/// the first request's error code, or `unavailable` when it ended without an answer.
fn record_outcome(outcome: Option<&Outcome>) {
    let code = match outcome {
        Some(Outcome::Data(_)) => "ok",
        Some(Outcome::Error(error)) => error["code"].as_str().unwrap_or("internal"),
        None => ErrorCode::Unavailable.as_str(),
    };
    tracing::Span::current().record("outcome", code);
}

/// The connection's outbound as a claimed request's job sees it: the reply is recorded as the
/// id's answer before it is queued.
struct Recorder {
    out: Arc<dyn Outbound>,
    reply_to: String,
    claim: Mutex<Option<Claim>>,
}

impl Recorder {
    fn record(&self, frame: &Frame) {
        let mut claim = self.claim.lock().unwrap_or_else(|p| p.into_inner());
        if claim.is_none() {
            return;
        }
        let Ok(Value::Object(mut sent)) = serde_json::from_str::<Value>(frame.as_str()) else {
            return;
        };
        if sent.get("event").and_then(Value::as_str) != Some(self.reply_to.as_str()) {
            return;
        }
        let outcome = match (sent.remove("data"), sent.remove("error")) {
            (Some(data), _) => Outcome::Data(data),
            (None, Some(error)) => Outcome::Error(error),
            (None, None) => return,
        };
        // The database could not be reached: a retry should run again.
        let remember = !matches!(&outcome, Outcome::Error(e) if e["code"] == "unavailable");
        if let Some(claim) = claim.take() {
            claim.finish(outcome, remember, frame.len());
        }
    }
}

impl Outbound for Recorder {
    fn send(&self, frame: Frame) -> bool {
        // Recorded first, so a retry the client sends on reading the reply finds the answer.
        self.record(&frame);
        self.out.send(frame)
    }

    fn push(&self, frame: Frame, key: &Arc<SubKey>) -> bool {
        self.out.push(frame, key)
    }
}
