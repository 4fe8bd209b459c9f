//! Request ids over HTTP (docs/protocol.md section 2, "Request ids"): a write's
//! `Idempotency-Key` header is its `request_id`, an anonymous caller's ids are its address's,
//! and a replayed answer says so with `Idempotent-Replayed: true`.

use http::{HeaderValue, Method};
use serde_json::{Map, Value};

use super::collect::{exchange_in, Exchange};
use super::route::Route;
use super::{respond, HttpResponse, Pending};
use crate::admission::Holder;
use crate::protocol::{ApiError, EventName};
use crate::session::request_id::{check_request_id, REQUEST_ID};

/// The request header that carries a write's request id.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header of a replayed answer.
pub(crate) const REPLAYED: &str = "idempotent-replayed";

impl Pending {
    /// Runs `event` with `data` in a one-request session, the `Idempotency-Key` header (on a
    /// write's method) as its `request_id`.
    pub(super) async fn exchange(
        &self,
        event: &EventName,
        mut data: Map<String, Value>,
    ) -> Result<Exchange, HttpResponse> {
        if !matches!(self.method, Method::GET | Method::HEAD) {
            self.take_key(&mut data).map_err(|e| respond::error(&e))?;
        }
        let engine = self.api.engine();
        let open = |out| {
            let mut session = engine.open_transient_session(self.user.clone(), out);
            let route = format!("{}{}", self.api.inner().prefix, self.route.template());
            session.http_request(self.method.as_str(), route);
            // An anonymous caller's request ids are its address's, as over the WebSocket.
            if let (None, Some(peer)) = (&self.user, self.peer) {
                session.admitted(Some(Holder::Address(peer)), None);
            }
            session
        };
        Ok(exchange_in(engine, open, event, data).await)
    }

    /// Puts the header's key into `data` as its `request_id`; a form's body, which is the
    /// submit, may carry it too.
    fn take_key(&self, data: &mut Map<String, Value>) -> Result<(), ApiError> {
        if let (Route::Form { .. }, Some(Value::Object(submit))) =
            (&self.route, data.get_mut("submit"))
        {
            if let Some(id) = submit.remove(REQUEST_ID) {
                data.insert(REQUEST_ID.into(), id);
            }
        }
        let Some(key) = &self.idempotency_key else {
            return Ok(());
        };
        let max = self.api.engine().limits().max_request_id_length;
        let key = key
            .to_str()
            .ok()
            .filter(|k| check_request_id(k, max).is_ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Idempotency-Key must be 1 to {max} characters among A-Z a-z 0-9 _ . : -"
                ))
            })?;
        match data.get(REQUEST_ID) {
            None | Some(Value::Null) => {
                data.insert(REQUEST_ID.into(), Value::String(key.to_owned()));
                Ok(())
            }
            Some(Value::String(id)) if id == key => Ok(()),
            Some(_) => Err(ApiError::bad_request(
                "the Idempotency-Key header differs from the body's request_id",
            )),
        }
    }
}

/// Marks the response of a replayed answer.
pub(super) fn mark(mut response: HttpResponse, exchange: &Exchange) -> HttpResponse {
    if exchange
        .reply()
        .is_some_and(|reply| reply.get("replayed") == Some(&Value::Bool(true)))
    {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}
