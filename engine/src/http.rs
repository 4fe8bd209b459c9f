//! The API over HTTP (docs/protocol.md section 6), for both adapters, with no I/O of its own.
//!
//! An adapter parses the request head with its own HTTP parser and reads the body with its own
//! sockets; everything in between lives here: route matching, method checks (405 with
//! `Allow`), authentication, the `Content-Type` check (415), the body limit (413), query
//! strings typed into filters, CORS, HEAD, the OpenAPI document, and the mapping from the
//! engine's reply to a status and a JSON body. A request runs through the same
//! [`Session`](crate::session::Session) as a WebSocket frame, so permissions, validation and
//! the pushes an HTTP write causes are exactly those of the WebSocket.
//!
//! ```no_run
//! use chanbind_engine::http::{Begin, HttpApi, HttpConfig, HttpResponse};
//! # async fn serve(engine: chanbind_engine::Engine, request: http::Request<Vec<u8>>) -> HttpResponse {
//! let api = HttpApi::new(engine, HttpConfig::default()); // once per server
//! let (parts, body) = request.into_parts();
//! assert!(api.serves(parts.uri.path()));
//! let pending = match api.begin(&parts, None).await { // the client address, if known
//!     Begin::Respond(response) => return response, // 401, 404, 405, 415, preflight, ...
//!     Begin::Proceed(pending) => pending,
//! };
//! // An adapter reads at most `pending.body_limit()` bytes, and only if `wants_body()`;
//! // past the limit it answers `pending.too_large()`.
//! if body.len() > pending.body_limit() {
//!     return pending.too_large();
//! }
//! pending.finish(&body).await
//! # }
//! ```
//!
//! Which requests come here at all, against the WebSocket endpoint and static files, is the
//! [`edge`]'s [`dispatch`](edge::dispatch), which both adapters call first.
//!
//! The futures are runtime-agnostic: the tokio adapter awaits them, a blocking adapter may
//! drive them with `futures_executor::block_on` as it drives a WebSocket frame's job.
//!
//! Where docs/protocol.md is silent, this module decides:
//!
//! - Served below a mount point (a [`Mount`] in the request's extensions), routes are matched
//!   on the path below it, and the URLs the API writes name it: `Location`
//!   (`/realtime/api/todo.Task/1`) and the OpenAPI document's server URL (`/realtime`, with
//!   paths under the prefix as ever).
//! - `POST /api/<stream>/` answers 201 with `Location`; every other success is 200, except an
//!   upsert that updated (200; `?on_conflict=` on the POST), a `PUT` upsert that created a
//!   missing client key (201 with `Location`; `?create=false` turns it off) and a
//!   custom event whose handler sends no reply: 204. A frame a handler reflects under its own
//!   action name cannot be told from a reply, so it counts as one.
//! - `POST` on a form route submits it (`{"submit": body}`); a body `id` must match the path's.
//! - An empty body is `{}`; a body needs `Content-Type: application/json` (or `*+json`).
//! - `/api/<stream>` and a trailing slash on any route are forgiven.
//! - The `token` query parameter belongs to the authenticators and is never a filter; a key
//!   given twice is `bad_request`, except `__in` and `order`, whose values are joined. The
//!   `filters` parameter (a filters object as JSON) is never a field either; a key it shares
//!   with a plain parameter is given twice.
//! - Authentication runs before routing, so an anonymous caller cannot probe stream names;
//!   CORS preflights are answered without it (browsers send them without credentials), and
//!   alike for every path, so they reveal no more.
//! - `POST /api/events` answers the frame array under the reply's status (its error's, or
//!   200); an envelope that cannot be decoded gets the error object, as every route does.
//!   `retrieve`, `search` and `list` through it never subscribe: the request's session ends
//!   with the request.

mod body;
pub(crate) mod collect;
mod cors;
pub mod edge;
mod openapi;
pub(crate) mod query;
mod request_id;
mod respond;
pub(crate) mod route;
mod run;
mod static_files;
mod upsert;
mod version;

pub use cors::Cors;
pub use edge::{Mount, ServerSettings};
pub use respond::{error, error_with_status, json, refusal};
pub use run::Pending;
pub use static_files::StaticFile;

use std::sync::Arc;

use http::header::{CONTENT_LENGTH, ORIGIN};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};

use crate::auth::RequestHead;
use crate::protocol::ApiError;
use crate::Engine;
use body::BodyType;
use route::Route;

/// A response as the engine builds it; adapters copy it onto their own response type
/// (`hyper` uses these `http` types as they are).
pub type HttpResponse = http::Response<Vec<u8>>;

/// How the API answers over HTTP.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The path every route lives under (default: `/api`).
    pub prefix: String,
    /// The largest request body; `None` (the default) means the WebSocket's
    /// `max_message_bytes`, so both transports accept the same requests.
    pub max_body_bytes: Option<usize>,
    /// Which browser origins may call the API (default: none).
    pub cors: Cors,
    /// Fixed files served at their own paths outside the prefix (default: none).
    pub static_files: Vec<StaticFile>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            prefix: "/api".to_owned(),
            max_body_bytes: None,
            cors: Cors::default(),
            static_files: Vec::new(),
        }
    }
}

/// The HTTP side of one engine. Cheap to clone; build it once per server.
#[derive(Clone)]
pub struct HttpApi {
    inner: Arc<ApiInner>,
}

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApi")
            .field("prefix", &self.inner.prefix)
            .field("body_limit", &self.inner.body_limit)
            .finish_non_exhaustive()
    }
}

pub(crate) struct ApiInner {
    pub(crate) engine: Engine,
    pub(crate) prefix: String,
    pub(crate) body_limit: usize,
    pub(crate) cors: Cors,
    /// Generated once: the bindings do not change while a server runs. It names the root as
    /// its server; a mounted server's is written per request ([`HttpApi::openapi_at`]).
    pub(crate) openapi: Vec<u8>,
    pub(crate) openapi_doc: serde_json::Value,
    pub(crate) static_files: Vec<StaticFile>,
}

/// What to do after the request head.
#[derive(Debug)]
pub enum Begin {
    /// Answer this and stop: the body, if any, is not needed.
    Respond(HttpResponse),
    /// Read the body if the request wants one, then [`Pending::finish`] (boxed: it is large).
    Proceed(Box<Pending>),
}

impl HttpApi {
    /// The API of `engine`, with its OpenAPI document generated from the engine's bindings.
    pub fn new(engine: Engine, config: HttpConfig) -> Self {
        let prefix = config.prefix.trim_end_matches('/').to_owned();
        let body_limit = config
            .max_body_bytes
            .unwrap_or(engine.limits().max_message_bytes);
        let openapi_doc = openapi::document(engine.registry(), &prefix);
        let openapi = mounted_openapi(&openapi_doc, "");
        HttpApi {
            inner: Arc::new(ApiInner {
                engine,
                prefix,
                body_limit,
                cors: config.cors,
                openapi,
                openapi_doc,
                static_files: config.static_files,
            }),
        }
    }

    /// Whether `path` lies under the API prefix; adapters send only those requests here.
    pub fn serves(&self, path: &str) -> bool {
        under_prefix(&self.inner.prefix, path)
    }

    /// The answer for a configured static file at `path`, if there is one. Adapters ask this
    /// for plain (non-upgrade) requests outside the prefix.
    pub fn static_file(&self, method: &Method, path: &str) -> Option<HttpResponse> {
        static_files::find_at(&self.inner.static_files, method, path)
    }

    /// The largest body a request may have.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// The OpenAPI 3 document (JSON) that `GET <prefix>/openapi.json` serves on a server of
    /// its own (its server URL is `/`).
    pub fn openapi(&self) -> &[u8] {
        &self.inner.openapi
    }

    /// The OpenAPI document of the API mounted at `mount` (see [`Mount`]): its server URL is
    /// the mount point, so `/api/...` paths resolve to `/realtime/api/...`.
    pub fn openapi_at(&self, mount: &str) -> Vec<u8> {
        if mount.is_empty() {
            return self.inner.openapi.clone();
        }
        mounted_openapi(&self.inner.openapi_doc, mount)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Handles the request head: answers preflights, authentication failures, unknown routes,
    /// wrong methods, wrong content types and declared oversized bodies at once; otherwise
    /// the request proceeds to its body. `peer` is the client's address, which per-address
    /// rate limits of anonymous callers count by.
    pub async fn begin(&self, parts: &Parts, peer: Option<std::net::IpAddr>) -> Begin {
        if Cors::is_preflight(&parts.method, &parts.headers) {
            return Begin::Respond(self.preflight(parts));
        }
        let cors = self.inner.cors.response_headers(&parts.headers);
        match self.check(parts, peer).await {
            Ok(mut pending) => {
                pending.cors = cors;
                Begin::Proceed(Box::new(pending))
            }
            Err(response) => Begin::Respond(with_headers(response, cors)),
        }
    }

    async fn check(
        &self,
        parts: &Parts,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Pending, HttpResponse> {
        let engine = &self.inner.engine;
        let rest = parts
            .uri
            .path()
            .strip_prefix(self.inner.prefix.as_str())
            .unwrap_or("");
        let route = Route::parse(engine.registry(), rest, parts.method == Method::POST);
        let head = RequestHead::from_parts(parts, peer);
        // Authentication comes before anything that depends on the route, so an anonymous
        // caller learns nothing about which streams exist.
        let user = engine
            .admit_request(&head, &parts.method)
            .await
            .map_err(refusal)?;
        engine
            .check_rate(user.as_ref(), &head)
            .map_err(respond::rate_limited)?;
        let route = route.map_err(|e| error(&e))?;
        if parts.method == Method::OPTIONS {
            let mut response = respond::no_content();
            respond::set_allow(&mut response, &route.allow());
            return Err(response);
        }
        if !route.methods().contains(&parts.method) {
            return Err(respond::method_not_allowed(&route.allow()));
        }
        let body_type = BodyType::of(&parts.headers);
        if route::reads_body(&parts.method) {
            if body_type == BodyType::Other {
                return Err(respond::unsupported_media_type());
            }
            let declared = parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|len| len > self.inner.body_limit as u64) {
                return Err(respond::too_large(self.inner.body_limit));
            }
        }
        Ok(Pending {
            api: self.clone(),
            user,
            route,
            method: parts.method.clone(),
            query: parts.uri.query().map(str::to_owned),
            body_type,
            if_match: version::if_match(&parts.headers),
            cors: HeaderMap::new(),
            mount: Mount::of(&parts.extensions).to_owned(),
            peer,
            idempotency_key: parts
                .headers
                .get(request_id::IDEMPOTENCY_KEY)
                .cloned()
                .map(Box::new),
        })
    }

    /// A CORS preflight. Browsers send it without credentials, so it is answered before
    /// authentication, and alike for every path: it says which origins, methods and headers
    /// may be used, never whether the route exists.
    fn preflight(&self, parts: &Parts) -> HttpResponse {
        let response = respond::no_content();
        match self.inner.cors.preflight(&parts.headers) {
            Some(headers) => with_headers(response, headers),
            None => {
                if parts.headers.contains_key(ORIGIN) {
                    tracing::debug!(path = parts.uri.path(), "CORS preflight refused");
                }
                response
            }
        }
    }

    pub(crate) fn inner(&self) -> &ApiInner {
        &self.inner
    }
}

/// Whether `path` lies under `prefix` (a trailing slash on the prefix aside).
pub(crate) fn under_prefix(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix.trim_end_matches('/'))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The document with `mount` (or `/`) as its only server, encoded.
fn mounted_openapi(doc: &serde_json::Value, mount: &str) -> Vec<u8> {
    let mut doc = doc.clone();
    let url = if mount.is_empty() { "/" } else { mount };
    doc["servers"] = serde_json::json!([{ "url": url }]);
    doc.to_string().into_bytes()
}

/// Adds `extra` to the response's headers.
pub(crate) fn with_headers(mut response: HttpResponse, extra: HeaderMap) -> HttpResponse {
    response.headers_mut().extend(extra);
    response
}

/// The status of an error object's `code`, as the engine encoded it in a frame.
pub(crate) fn status_of_code(code: &str) -> StatusCode {
    crate::protocol::ErrorCode::from_wire(code)
        .and_then(|c| StatusCode::from_u16(c.http_status()).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A `bad_request` for a body the adapter could not read (the client went away mid-body).
pub fn unreadable_body() -> HttpResponse {
    error(&ApiError::bad_request("the request body could not be read"))
}
