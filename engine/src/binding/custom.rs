//! Custom events: handlers a binding registers for its own actions (docs/protocol.md section 5).
//!
//! ```
//! use chanbind_engine::binding::{CustomBinding, EventContext};
//! use serde_json::json;
//!
//! let custom = CustomBinding::new("custom_stream").on("custom_event", |ctx: EventContext| async move {
//!     let sender = ctx.data().get("sender").and_then(|s| s.as_str()).unwrap_or("someone").to_owned();
//!     ctx.reflect("custom_event", &json!({"msg": format!("This a reflected response for {sender}")}));
//!     ctx.dispatch("custom_group_event", &json!({"msg": format!("to the group from {sender}")}));
//!     Ok(None)
//! });
//! assert_eq!(custom.stream(), "custom_stream");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::auth::User;
use crate::engine::Engine;
use crate::outbound::ConnHandle;
use crate::permission::{Permission, SharedPermission};
use crate::protocol::{encode_reply, ApiError, EventName};

/// What a handler returns: `Some(data)` to reply under the request's event, `None` to send
/// nothing beyond what it reflected, or an error for the client.
pub type HandlerResult = Result<Option<Value>, ApiError>;

/// The boxed future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;

/// A custom event handler. Any `Fn(EventContext) -> impl Future<Output = HandlerResult>`
/// is one.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, ctx: EventContext) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(EventContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn call(&self, ctx: EventContext) -> HandlerFuture {
        Box::pin(self(ctx))
    }
}

/// The handlers of one stream, by action.
#[derive(Clone, Default)]
pub struct Handlers {
    by_action: BTreeMap<String, Arc<dyn Handler>>,
}

impl Handlers {
    pub(crate) fn insert(&mut self, action: &str, handler: Arc<dyn Handler>) {
        self.by_action.insert(action.to_owned(), handler);
    }

    /// The handler of `action`.
    pub fn get(&self, action: &str) -> Option<&Arc<dyn Handler>> {
        self.by_action.get(action)
    }

    /// The actions that have handlers.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.by_action.keys().map(String::as_str)
    }
}

impl fmt::Debug for Handlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.by_action.keys()).finish()
    }
}

/// A stream with custom events only, no table.
#[derive(Debug, Clone)]
pub struct CustomBinding {
    stream: String,
    handlers: Handlers,
    permission: SharedPermission,
}

impl CustomBinding {
    /// A stream named `stream`.
    pub fn new(stream: &str) -> Self {
        CustomBinding {
            stream: stream.to_owned(),
            handlers: Handlers::default(),
            permission: SharedPermission::default(),
        }
    }

    /// Sets who may send these events (only [`Permission::allows`] applies: custom streams
    /// have no rows).
    pub fn permission(mut self, permission: impl Permission) -> Self {
        self.permission = SharedPermission(Arc::new(permission));
        self
    }

    /// The stream's permission.
    pub fn permission_ref(&self) -> &dyn Permission {
        self.permission.0.as_ref()
    }

    /// Registers `handler` for `<stream>.<action>`.
    pub fn on(mut self, action: &str, handler: impl Handler) -> Self {
        self.handlers.insert(action, Arc::new(handler));
        self
    }

    /// The stream name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The handlers.
    pub fn handlers(&self) -> &Handlers {
        &self.handlers
    }
}

/// What a handler gets: the request (user, data, hash) and the ways to answer.
pub struct EventContext {
    pub(crate) engine: Engine,
    pub(crate) conn: ConnHandle,
    pub(crate) event: EventName,
    pub(crate) data: Map<String, Value>,
}

impl fmt::Debug for EventContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventContext")
            .field("event", &self.event)
            .field("user", &self.conn.user)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl EventContext {
    /// The connection's user, `None` when anonymous.
    pub fn user(&self) -> Option<&User> {
        self.conn.user.as_deref()
    }

    /// The request's `data`.
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// The request's hash.
    pub fn hash(&self) -> Option<&str> {
        self.event.hash()
    }

    /// The stream.
    pub fn stream(&self) -> &str {
        self.event.stream()
    }

    /// The engine, to read the store or send elsewhere.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Sends `<stream>.<event>[#hash]` to this connection only.
    pub fn reflect(&self, event: &str, data: &Value) {
        let name = self.event.with_action(event).to_string();
        self.conn.out.send(encode_reply(&name, data));
    }

    /// Sends `<stream>.<event>` to every connection in the stream's group.
    pub fn dispatch(&self, event: &str, data: &Value) {
        self.engine.send_to_group(self.stream(), event, data);
    }

    /// Sends `<stream>.<event>` to every connection.
    pub fn broadcast(&self, event: &str, data: &Value) {
        self.engine.broadcast(self.stream(), event, data);
    }
}
