//! After the head: turning a request into an envelope, running it, and answering with the
//! reply's `data` or error object.

use http::header::LOCATION;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value};

use super::body::{self, BodyError, BodyType};
use super::collect::Exchange;
use super::route::{self, Route};
use super::{respond, status_of_code, with_headers, HttpApi, HttpResponse};
use crate::auth::User;
use crate::key::Key;
use crate::protocol::{decode_inbound, ApiError, EventName};

/// A request whose head passed every check; [`finish`](Self::finish) runs it.
#[derive(Debug)]
pub struct Pending {
    pub(crate) api: HttpApi,
    pub(crate) user: Option<User>,
    pub(crate) route: Route,
    pub(crate) method: Method,
    pub(crate) query: Option<String>,
    pub(crate) body_type: BodyType,
    /// The `If-Match` header, for a write's version check.
    pub(crate) if_match: Option<String>,
    pub(crate) cors: HeaderMap,
    /// Where the server is mounted ([`Mount`](super::Mount)), for the URLs it writes.
    pub(crate) mount: String,
    /// The client's address: an anonymous caller's request ids are its address's.
    pub(crate) peer: Option<std::net::IpAddr>,
    /// The `Idempotency-Key` header: a write's `request_id`.
    pub(crate) idempotency_key: Option<Box<HeaderValue>>,
}

impl Pending {
    /// Whether the request has a body to read (POST, PUT and PATCH). Other methods' bodies
    /// are ignored, so the adapter need not read them.
    pub fn wants_body(&self) -> bool {
        route::reads_body(&self.method)
    }

    /// The most body bytes to read; past it, answer [`too_large`](Self::too_large).
    pub fn body_limit(&self) -> usize {
        self.api.body_limit()
    }

    /// The 413 for a body longer than [`body_limit`](Self::body_limit).
    pub fn too_large(&self) -> HttpResponse {
        with_headers(respond::too_large(self.body_limit()), self.cors.clone())
    }

    /// The signed-in user, `None` when anonymous.
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// Runs the request with its body (empty when [`wants_body`](Self::wants_body) is false)
    /// and builds the response.
    pub async fn finish(self, body: &[u8]) -> HttpResponse {
        let response = match self.answer(body).await {
            Ok(response) | Err(response) => response,
        };
        let response = if self.method == Method::HEAD {
            respond::head(response)
        } else {
            response
        };
        with_headers(response, self.cors)
    }

    async fn answer(&self, body: &[u8]) -> Result<HttpResponse, HttpResponse> {
        match &self.route {
            Route::OpenApi => Ok(respond::bytes(
                StatusCode::OK,
                self.api.openapi_at(&self.mount),
            )),
            Route::Events => self.events(body).await,
            route => {
                let stream = route.stream().unwrap_or_default();
                let action = route.action(&self.method).unwrap_or_default();
                let mut data = self.data(body).map_err(body_error)?;
                let registry = self.api.engine().registry();
                super::version::apply(
                    registry,
                    route,
                    &self.method,
                    self.if_match.as_deref(),
                    &mut data,
                )
                .map_err(|e| respond::error(&e))?;
                let event = EventName::new(stream, action, None);
                let exchange = self.exchange(&event, data).await?;
                Ok(super::request_id::mark(self.reply(&exchange), &exchange))
            }
        }
    }

    /// The request's `data`, from the path, the query string and the body.
    fn data(&self, body: &[u8]) -> Result<Map<String, Value>, BodyError> {
        let registry = self.api.engine().registry();
        let with_id = |mut data: Map<String, Value>, id: &Key| {
            match data.get("id") {
                None | Some(Value::Null) => {}
                Some(given) if Key::from_json(given).as_ref() == Some(id) => {}
                Some(_) => {
                    return Err(BodyError::Bad(ApiError::bad_request(
                        "the body's id differs from the path's",
                    )))
                }
            }
            data.insert("id".into(), id.to_json());
            Ok(data)
        };
        let only_id = |id: &Key| {
            let mut data = Map::new();
            data.insert("id".into(), id.to_json());
            data
        };
        Ok(match (&self.route, &self.method) {
            (Route::Collection { stream }, &Method::GET | &Method::HEAD) => {
                let binding = registry
                    .get(stream)
                    .ok_or_else(|| BodyError::Bad(ApiError::not_found()))?;
                super::query::search_data_in(Some(registry), binding, self.query.as_deref())
                    .map_err(BodyError::Bad)?
            }
            (Route::Item { id, .. }, &Method::GET | &Method::HEAD) => {
                let mut data =
                    super::query::retrieve_data(self.query.as_deref()).map_err(BodyError::Bad)?;
                data.insert("id".into(), id.to_json());
                // A retrieve over HTTP has no connection to push to.
                data.insert("subscribe".into(), Value::Bool(false));
                data
            }
            (Route::Item { id, .. }, &Method::DELETE) => only_id(id),
            (Route::Item { id, .. }, &Method::PUT) => {
                let mut data = with_id(self.object(body)?, id)?;
                super::upsert::add_params(self.query.as_deref(), &mut data)
                    .map_err(BodyError::Bad)?;
                data
            }
            (Route::Item { id, .. }, _) => with_id(self.object(body)?, id)?,
            (Route::Form { id, .. }, &Method::POST) => {
                let mut data = id.as_ref().map(only_id).unwrap_or_default();
                data.insert("submit".into(), Value::Object(self.object(body)?));
                data
            }
            (Route::Form { id, .. }, _) => id.as_ref().map(only_id).unwrap_or_default(),
            (Route::Collection { .. }, &Method::POST) => {
                let mut data = self.object(body)?;
                super::upsert::add_params(self.query.as_deref(), &mut data)
                    .map_err(BodyError::Bad)?;
                data
            }
            _ => self.object(body)?,
        })
    }

    fn object(&self, body: &[u8]) -> Result<Map<String, Value>, BodyError> {
        body::object(body, self.body_type)
    }

    /// Section 6's answer: the reply's `data` (201 with `Location` for a create), its error
    /// object under the code's status, or 204 when a custom handler sent no reply.
    fn reply(&self, exchange: &Exchange) -> HttpResponse {
        let Some(reply) = exchange.reply() else {
            return respond::no_content();
        };
        if let Some(error) = reply.get("error") {
            let status = status_of_code(error["code"].as_str().unwrap_or(""));
            let status = super::version::status(error, self.if_match.is_some(), status);
            return respond::json(status, error);
        }
        let data = reply.get("data").unwrap_or(&Value::Null);
        // An upsert says whether it created the row; a create always does.
        let created = match data.get("created") {
            Some(Value::Bool(created)) => *created,
            _ => matches!(self.route, Route::Collection { .. }) && self.method == Method::POST,
        };
        if !created {
            let mut response = respond::json(StatusCode::OK, data);
            let registry = self.api.engine().registry();
            super::version::set_etag(registry, &self.route, data, &mut response);
            return response;
        }
        let mut response = respond::json(StatusCode::CREATED, data);
        super::version::set_etag(
            self.api.engine().registry(),
            &self.route,
            data,
            &mut response,
        );
        if let (Some(stream), Some(id)) = (self.route.stream(), Key::from_json(&data["id"])) {
            // A text key may hold any character: the path carries it percent-encoded.
            let id = id.to_string();
            let id = percent_encoding::utf8_percent_encode(&id, PATH_SEGMENT);
            let prefix = &self.api.inner().prefix;
            let location = format!("{}{prefix}/{stream}/{id}", self.mount);
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(LOCATION, value);
            }
        }
        response
    }

    /// `POST /api/events`: any envelope, answered with every frame it sent to its own
    /// connection. The status is the reply's (its error's, or 200), so a failed request is not
    /// a 200 to tools that read only the status.
    async fn events(&self, body: &[u8]) -> Result<HttpResponse, HttpResponse> {
        let value = body::parse(body, self.body_type).map_err(body_error)?;
        let Some(value) = value else {
            return Err(respond::error(&ApiError::bad_request(
                "the body must be {\"event\", \"data\"}",
            )));
        };
        let inbound = decode_inbound(&value.to_string()).map_err(|e| respond::error(&e.error))?;
        let (event, mut data) = (inbound.event, inbound.data);
        let registry = self.api.engine().registry();
        let built_in = registry.get(event.stream()).is_some()
            && registry.handler(event.stream(), event.action()).is_none();
        if built_in && matches!(event.action(), "retrieve" | "search" | "list") {
            // Subscriptions would die with the request's session at once, and their replies
            // would come through the stream actor after the request ended.
            data.insert("subscribe".into(), Value::Bool(false));
        }
        let exchange = self.exchange(&event, data).await?;
        let status = exchange
            .reply()
            .and_then(|reply| reply.get("error"))
            .map_or(StatusCode::OK, |error| {
                status_of_code(error["code"].as_str().unwrap_or(""))
            });
        let response = respond::json(status, &Value::Array(exchange.frames.clone()));
        Ok(super::request_id::mark(response, &exchange))
    }
}

fn body_error(error: BodyError) -> HttpResponse {
    match error {
        BodyError::Unsupported => respond::unsupported_media_type(),
        BodyError::Bad(error) => respond::error(&error),
    }
}

/// What a path segment must escape: controls, space, the characters that end or split a
/// path or start a query or fragment, and `%` itself.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');
