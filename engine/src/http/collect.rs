//! One HTTP request as a one-frame WebSocket connection: a session with a collecting
//! [`Outbound`], the request's envelope through [`Session::handle_text`], its job run to the
//! end, and the frames it sent to its own connection.
//!
//! Going through the session rather than calling the store keeps one path for every
//! transport: the permission pipeline, validation, the no-gap locks, the hooks and the
//! publish that lets WebSocket subscribers see an HTTP write. The typed API of
//! [`crate::app`] runs its requests through here too.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::outbound::Outbound;
use crate::protocol::{EventName, Frame};
use crate::session::{Session, Step};
use crate::Engine;

/// The hash given to requests that bring none. Every frame a session sends to its own
/// connection carries the request's hash (its reply and its reflections); group sends and
/// broadcasts never do. So with a hash on every request, the frames of this request can be
/// told from a broadcast that happened to arrive meanwhile.
pub(crate) const HTTP_HASH: &str = "http";

/// The frames queued on one request's connection.
struct Collector {
    frames: Mutex<Vec<Frame>>,
    max: usize,
}

impl Outbound for Collector {
    fn send(&self, frame: Frame) -> bool {
        let mut frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        // The same bound a WebSocket connection's queue has: a handler that reflects in a
        // loop must not grow one request's memory without end.
        if frames.len() >= self.max {
            return false;
        }
        frames.push(frame);
        true
    }
}

/// What one request sent to its own connection.
pub(crate) struct Exchange {
    /// The request's event, as the client would see it (no hash when it brought none).
    pub(crate) event: String,
    /// The frames, in order, as JSON objects, under the event names the client would see.
    pub(crate) frames: Vec<Value>,
}

impl Exchange {
    /// The reply: the last frame under the request's own event. A handler that reflects
    /// under its own action name sends a frame a client cannot tell from a reply, so over
    /// HTTP it counts as one; a reply the handler returns comes after its reflections.
    pub(crate) fn reply(&self) -> Option<&Value> {
        self.frames
            .iter()
            .rev()
            .find(|f| f["event"] == self.event.as_str())
    }
}

/// Runs `<event>` with `data` in the one-request session `open` makes for the collecting
/// outbound (a user's, or the system's) and collects what it sends back. `event` may carry
/// the client's hash; without one, [`HTTP_HASH`] is used and taken off again.
pub(crate) async fn exchange_in(
    engine: &Engine,
    open: impl FnOnce(Arc<dyn Outbound>) -> Session,
    event: &EventName,
    data: Map<String, Value>,
) -> Exchange {
    let given = event.hash().is_some();
    let hashed = match event.hash() {
        Some(_) => event.clone(),
        None => EventName::new(event.stream(), event.action(), Some(HTTP_HASH)),
    };
    let hashed_text = hashed.to_string();
    let mut envelope = Map::new();
    envelope.insert("event".into(), Value::String(hashed_text.clone()));
    envelope.insert("data".into(), Value::Object(data));
    let text = Value::Object(envelope).to_string();

    let out = Arc::new(Collector {
        frames: Mutex::new(Vec::new()),
        max: engine.limits().outbound_queue.max(1),
    });
    let mut session = open(Arc::clone(&out) as Arc<dyn Outbound>);
    match session.handle_text(&text) {
        Step::Reply(frame) => {
            out.send(frame);
        }
        Step::Run(job) => job.run().await,
    }
    // Leaves every group and drops any subscription the request made: it has no connection
    // left to push to.
    drop(session);

    let frames = std::mem::take(&mut *out.frames.lock().unwrap_or_else(|p| p.into_inner()));
    let hash = hashed.hash().unwrap_or(HTTP_HASH);
    let frames = frames
        .iter()
        .filter_map(|frame| serde_json::from_str::<Value>(frame.as_str()).ok())
        .filter_map(|mut frame| {
            let name = EventName::parse(frame.get("event")?.as_str()?).ok()?;
            if name.hash() != Some(hash) {
                return None;
            }
            if !given {
                frame["event"] =
                    Value::String(EventName::new(name.stream(), name.action(), None).to_string());
            }
            Some(frame)
        })
        .collect();
    Exchange {
        event: if given {
            hashed_text
        } else {
            event.to_string()
        },
        frames,
    }
}
