//! Opening sessions: the engine hands out one per connection, one per HTTP request, and one
//! per call of application code.

use std::sync::Arc;

use super::Session;
use crate::auth::User;
use crate::engine::{Admitted, Engine};
use crate::outbound::Outbound;

impl Engine {
    /// Opens the session of a new connection. Its `hello` frame is [`Session::hello`].
    pub fn open_session(&self, user: Option<User>, out: Arc<dyn Outbound>) -> Session {
        let id = self.next_conn_id();
        Session::new(self.clone(), id, user.map(Arc::new), out, false, false)
    }

    /// Opens a session for one request (HTTP): the same pipeline, but it joins no group, so
    /// it costs the actors nothing. Requests through it should not subscribe.
    pub fn open_transient_session(&self, user: Option<User>, out: Arc<dyn Outbound>) -> Session {
        let id = self.next_conn_id();
        Session::new(self.clone(), id, user.map(Arc::new), out, true, false)
    }

    /// Opens a one-request session for application code with every right
    /// ([`crate::permission::Caller::System`]): the typed API's `Ctx::system()`.
    pub(crate) fn open_system_session(&self, out: Arc<dyn Outbound>) -> Session {
        let id = self.next_conn_id();
        Session::new(self.clone(), id, None, out, true, true)
    }

    /// Opens the session of an admitted WebSocket: it counts its requests against its own
    /// and its user's rate limits, and gives its place back when dropped.
    pub fn open_admitted_session(&self, admitted: Admitted, out: Arc<dyn Outbound>) -> Session {
        let mut session = self.open_session(admitted.user, out);
        session.admitted(admitted.holder, admitted.permit);
        session
    }
}
