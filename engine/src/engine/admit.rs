//! Admitting connections and requests: the origin check, authentication, connection limits
//! and rate limits, in the order both adapters apply them.

use http::Method;

use super::Engine;
use crate::admission::{ConnectionPermit, Holder, HolderPermit, RefusalPermit};
use crate::auth::{Refusal, RequestHead, User};
use crate::rate::RateLimited;

/// A WebSocket handshake the engine accepted: its user, and its place under the per-user
/// connection limit, which the session keeps until the connection ends.
#[derive(Debug)]
pub struct Admitted {
    pub(crate) user: Option<User>,
    pub(crate) holder: Option<Holder>,
    pub(crate) permit: Option<HolderPermit>,
}

impl Admitted {
    /// The connection's user (`None`: anonymous).
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }
}

impl Engine {
    /// A place for one more connection (WebSocket or HTTP) under `max_connections`; the
    /// adapter keeps it for as long as the connection is open and answers 503 without one.
    pub fn admit_connection(&self) -> Result<ConnectionPermit, Refusal> {
        self.inner.admission.connection()
    }

    /// For a connection [`admit_connection`](Self::admit_connection) refused: a place among
    /// the few the adapter answers with 503 at once
    /// (at most 16 at a time), held while it answers; `None` when
    /// the adapter should close it at once.
    pub fn admit_refusal(&self) -> Option<RefusalPermit> {
        self.inner.admission.refusal()
    }

    /// How many connections hold a place under `max_connections`.
    pub fn open_connections(&self) -> usize {
        self.inner.admission.open()
    }

    /// Checks a WebSocket handshake: its `Origin` (403), its credentials (401, or 503 when
    /// an authenticator failed), then the per-user (per-address when anonymous) connection
    /// limit (503). Open the session with [`open_admitted_session`](Self::open_admitted_session).
    pub async fn admit_handshake(&self, head: &RequestHead) -> Result<Admitted, Refusal> {
        let admitted = self.admit_handshake_unmetered(head).await;
        if let Err(refusal) = &admitted {
            self.inner.metrics.refused(*refusal);
        }
        admitted
    }

    async fn admit_handshake_unmetered(&self, head: &RequestHead) -> Result<Admitted, Refusal> {
        self.inner.origins.check(head, &Method::GET, true)?;
        let user = self.authenticate(head).await?;
        let holder = holder_of(user.as_ref(), head);
        let permit = match &holder {
            Some(holder) => Some(self.inner.admission.holder(holder.clone())?),
            None => None,
        };
        Ok(Admitted {
            user,
            holder,
            permit,
        })
    }

    /// Checks an HTTP request with `method`: its `Origin` when it writes with cookies (403),
    /// then its credentials. The request's rate is checked by
    /// [`check_rate`](Self::check_rate) once the user is known.
    pub async fn admit_request(
        &self,
        head: &RequestHead,
        method: &Method,
    ) -> Result<Option<User>, Refusal> {
        self.inner.origins.check(head, method, false)?;
        self.authenticate(head).await
    }

    /// Takes one request from the bucket of `user` (of the request's address when anonymous)
    /// under `user_requests_per_second`.
    pub fn check_rate(&self, user: Option<&User>, head: &RequestHead) -> Result<(), RateLimited> {
        self.inner.rates.check(None, holder_of(user, head).as_ref())
    }
}

/// Who a request counts against: its user, else its address (none when the adapter does not
/// know it, as for sessions opened by application code).
fn holder_of(user: Option<&User>, head: &RequestHead) -> Option<Holder> {
    match user {
        Some(user) => Some(Holder::User(user.id)),
        None => head.peer.map(Holder::Address),
    }
}
