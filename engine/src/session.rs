//! The per-connection session: plain code with no I/O of its own.
//!
//! An adapter feeds each inbound text frame to [`Session::handle_text`]. Decoding, finding the
//! binding, checking the request and planning its database work happen here, at once; what is
//! left is either a [`Step::Reply`] to queue or a [`Job`] for the adapter to run on its own
//! runtime. A job only awaits the store and queues frames on the connection's
//! [`Outbound`], so it runs on tokio as well as on a blocking thread.

mod batch;
mod custom;
mod expiry;
pub(crate) mod identity;
mod job;
mod open;
mod plan;
pub(crate) mod recheck;
mod refresh;
mod request;
pub(crate) mod request_id;
mod upsert;
mod upsert_write;
mod version;
mod write;

pub use crate::render::{changes_visibly, render_row, RowView};
pub(crate) use batch::in_batch_step;
pub use expiry::EXPIRING;
pub use job::Job;
pub(crate) use request::bad_key;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::actors::{GroupMsg, StreamMsg};
use crate::admission::{Holder, HolderPermit};
use crate::auth::User;
use crate::engine::Engine;
use crate::outbound::{ConnHandle, ConnId, HeldBytes, Outbound};
use crate::permission::Caller;
use crate::protocol::{decode_inbound, encode_error, hello_frame, ApiError, ErrorCode, Frame};
use crate::rate::ConnectionRate;
use crate::trace::RequestTrace;

/// What the adapter does next with a frame.
#[must_use]
#[derive(Debug)]
pub enum Step {
    /// Queue this frame (an error or an immediate answer); nothing else to do.
    Reply(Frame),
    /// Run this job to completion; it queues its own reply.
    Run(Box<Job>),
}

/// One connection's state. Dropping it removes the connection from every actor.
pub struct Session {
    engine: Engine,
    conn: ConnHandle,
    joined: HashSet<String>,
    /// A one-request session (HTTP): joins no group and receives no pushes.
    transient: bool,
    /// Application code with every right ([`Caller::System`]); always transient.
    system: bool,
    /// This connection's request bucket (`requests_per_second`).
    rate: ConnectionRate,
    /// Whom its requests count against under `user_requests_per_second`.
    holder: Option<Holder>,
    /// Its place under `max_connections_per_user`, given back when the session ends.
    _permit: Option<HolderPermit>,
    /// An HTTP request's method and route, for its request span.
    http: Option<(String, String)>,
    /// A WebSocket's user over time, its credential's timer and its subscribing requests;
    /// `None` for one-request sessions.
    identity: Option<Arc<identity::Identity>>,
    /// A planner that borrows a live connection's handle (a re-check): dropping it must
    /// leave that connection's subscriptions and groups alone.
    borrowed: bool,
    /// Its place in `chanbind_connections`, once an adapter said it serves it.
    _counted: Option<crate::metrics::ConnectionGuard>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.conn.id)
            .field("user", &self.conn.user)
            .field("transient", &self.transient)
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        engine: Engine,
        id: ConnId,
        user: Option<Arc<User>>,
        out: Arc<dyn Outbound>,
        transient: bool,
        system: bool,
    ) -> Self {
        let live = Arc::new(crate::live::LiveSlots::new(
            user.as_ref().map(|u| u.id),
            Arc::clone(&engine.inner().live_budget),
        ));
        let conn = ConnHandle {
            id,
            out,
            user,
            subs: Arc::new(Mutex::new(HashSet::new())),
            held: Arc::new(HeldBytes::new(engine.limits().max_subscription_bytes)),
            live,
            gate: Arc::default(),
            outcome: Arc::default(),
        };
        let mut identity = None;
        if !transient && !system {
            let _ = engine.inner().everyone.send_message(GroupMsg::Join(
                id,
                Arc::clone(&conn.out),
                conn.user.as_ref().map(|u| u.id),
            ));
            let shared = identity::Identity::new(conn.clone());
            if let Some(user) = &conn.user {
                shared.arm(&engine, user);
                engine.inner().identities.add(user.id, Arc::clone(&shared));
            }
            identity = Some(shared);
        }
        let rate = engine.inner().rates.connection();
        let holder = conn.user.as_ref().map(|u| Holder::User(u.id));
        Session {
            engine,
            conn,
            joined: HashSet::new(),
            transient: transient || system,
            system,
            rate,
            holder,
            _permit: None,
            http: None,
            identity,
            borrowed: false,
            _counted: None,
        }
    }

    /// A planner for requests of the live connection `conn` (with the user it carries): it
    /// registers subscriptions under the connection's own handle, joins nothing, and its
    /// drop leaves the connection as it is.
    pub(crate) fn borrowing(engine: Engine, conn: ConnHandle) -> Self {
        let rate = engine.inner().rates.connection();
        Session {
            engine,
            conn,
            joined: HashSet::new(),
            transient: true,
            system: false,
            rate,
            holder: None,
            _permit: None,
            http: None,
            identity: None,
            borrowed: true,
            _counted: None,
        }
    }

    /// Counts the session in `chanbind_connections{adapter}` until it ends: adapters call it
    /// on each WebSocket they open.
    pub fn served_by(&mut self, adapter: crate::metrics::Adapter) {
        self._counted = Some(self.engine.inner().metrics.connection(adapter));
    }

    /// Sets whom the session's requests count against and keeps its connection place.
    pub(crate) fn admitted(&mut self, holder: Option<Holder>, permit: Option<HolderPermit>) {
        self.holder = holder;
        self._permit = permit;
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.conn.id
    }

    /// The connection's user.
    pub fn user(&self) -> Option<&User> {
        self.conn.user.as_deref()
    }

    /// Whose rights the session's requests run with.
    pub(crate) fn caller(&self) -> Caller<'_> {
        match self.system {
            true => Caller::System,
            false => Caller::User(self.user()),
        }
    }

    /// The `hello` frame to send first.
    pub fn hello(&self) -> Frame {
        hello_frame(self.user(), self.engine.limits())
    }

    /// The frame for a frame that was too large (the adapter then closes with 1009).
    pub fn too_large(&self) -> Frame {
        let max = self.engine.limits().max_message_bytes;
        encode_error(
            "error",
            &ApiError::new(
                ErrorCode::TooLarge,
                format!("frames are limited to {max} bytes"),
            ),
        )
    }

    /// The frame for a binary frame, which the protocol refuses.
    pub fn binary_refused(&self) -> Frame {
        encode_error(
            "error",
            &ApiError::bad_request("binary frames are not supported; send JSON text"),
        )
    }

    /// Handles one inbound text frame, counted in the request metrics under its stream and
    /// action when a binding serves them, else under `unknown`.
    ///
    /// The request's `request` span ([`crate::trace`]) is made here, for every transport:
    /// planning runs inside it, and a [`Job`] carries it (and the metrics' clock) to the end
    /// of its run.
    pub fn handle_text(&mut self, text: &str) -> Step {
        let started = std::time::Instant::now();
        // An `auth.refresh` or the application may have replaced the user since.
        if let Some(identity) = &self.identity {
            self.conn.user = identity.user();
        }
        let trace = RequestTrace::new();
        if let Some((method, route)) = &self.http {
            trace.http(method, route);
        }
        let (step, route) = trace.span().in_scope(|| self.handle_in(text, &trace));
        if let (Step::Run(job), Some(identity)) = (&step, &self.identity) {
            if let Some(key) = job.subscription() {
                identity.remember(key, text);
            }
        }
        let route = route.unwrap_or_else(|| Arc::clone(self.engine.inner().metrics.unknown()));
        let meter = crate::metrics::Meter::at(route, started);
        match step {
            Step::Reply(frame) => {
                meter.finish(frame_error(&frame));
                Step::Reply(frame)
            }
            Step::Run(mut job) => {
                job.trace = Some(trace);
                job.meter(meter);
                Step::Run(job)
            }
        }
    }

    /// [`handle_text`](Self::handle_text) inside the request's span, with the request
    /// metrics of its stream and action once it decoded.
    fn handle_in(
        &mut self,
        text: &str,
        trace: &RequestTrace,
    ) -> (Step, Option<Arc<crate::metrics::RouteMetrics>>) {
        let inbound = match decode_inbound(text) {
            Ok(inbound) => inbound,
            Err(e) => {
                crate::trace::record_outcome_on(trace.span(), Some(&e.error));
                return (Step::Reply(encode_error(&e.event, &e.error)), None);
            }
        };
        trace.event(&inbound.event, self.user());
        let route = Arc::clone(
            self.engine
                .inner()
                .metrics
                .route(inbound.event.stream(), inbound.event.action()),
        );
        (self.handle_inbound(inbound, trace), Some(route))
    }

    /// A decoded request: rate limits, request ids, then its plan. An answer given here at
    /// once records its outcome.
    fn handle_inbound(&mut self, inbound: crate::protocol::Inbound, trace: &RequestTrace) -> Step {
        let refuse = |event: &str, error: &ApiError| {
            crate::trace::record_outcome_on(trace.span(), Some(error));
            Step::Reply(encode_error(event, error))
        };
        let event_text = inbound.event.to_string();
        // Refused before any work, so a flood costs a decode per frame and nothing more. An
        // HTTP request was checked (with its `Retry-After`) before its session was opened.
        let rates = &self.engine.inner().rates;
        let checked = if self.transient {
            Ok(())
        } else {
            rates.check(Some(&self.rate), self.holder.as_ref())
        };
        if let Err(limited) = checked {
            return refuse(&event_text, &limited.error());
        }
        // A write's `request_id` seen before is answered here, without planning it again.
        let (inbound, claim) = match self.claim_request_id(inbound) {
            Ok(request_id::Claimed::Run(inbound, claim)) => (inbound, claim),
            Ok(request_id::Claimed::Answered(step)) => return step,
            Err(error) => return refuse(&event_text, &error),
        };
        match self.plan(inbound) {
            Ok(step) => claim.record(step, &event_text),
            Err(error) => {
                claim.refused(&error);
                refuse(&event_text, &error)
            }
        }
    }

    /// Marks the session's requests as HTTP requests: their spans carry the method and the
    /// route.
    pub(crate) fn http_request(&mut self, method: &str, route: String) {
        self.http = Some((method.to_owned(), route));
    }

    /// Joins the stream's group once the connection has sent it a permitted event.
    fn join(&mut self, stream: &str) {
        if self.transient || self.joined.contains(stream) {
            return;
        }
        if let Some(group) = self.engine.inner().groups.get(stream) {
            let _ = group.send_message(GroupMsg::Join(
                self.conn.id,
                Arc::clone(&self.conn.out),
                self.conn.user.as_ref().map(|u| u.id),
            ));
            self.joined.insert(stream.to_owned());
        }
    }

    /// Leaves the stream's group (an unhashed `unsubscribe`).
    fn leave(&mut self, stream: &str) {
        if self.joined.remove(stream) {
            if let Some(group) = self.engine.inner().groups.get(stream) {
                let _ = group.send_message(GroupMsg::Leave(self.conn.id));
            }
        }
    }
}

/// The error code of a frame queued as a request's immediate answer, if it is an error: what
/// the request metrics count it under. Only such frames (refusals, replays) are read here.
fn frame_error(frame: &Frame) -> Option<ErrorCode> {
    #[derive(serde::Deserialize)]
    struct Sent {
        error: Option<Code>,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: String,
    }
    let sent: Sent = serde_json::from_str(frame.as_str()).ok()?;
    ErrorCode::from_wire(&sent.error?.code)
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.borrowed {
            return;
        }
        let inner = self.engine.inner();
        if let Some(identity) = &self.identity {
            identity.disarm();
            inner.identities.remove(identity);
        }
        // Only streams where the connection still holds subscriptions have anything of it.
        let streams: HashSet<String> = self
            .conn
            .subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|k| k.stream.clone())
            .collect();
        for stream in streams.iter().filter_map(|s| inner.streams.get(s)) {
            let _ = stream.send_message(StreamMsg::Disconnect(self.conn.id));
        }
        for name in &self.joined {
            if let Some(group) = inner.groups.get(name) {
                let _ = group.send_message(GroupMsg::Leave(self.conn.id));
            }
        }
        if !self.transient {
            let _ = inner.everyone.send_message(GroupMsg::Leave(self.conn.id));
        }
    }
}
