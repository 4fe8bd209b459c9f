//! Who is on the other end of a connection: users, and the authenticators that recognise them
//! from the WebSocket handshake or an HTTP request (docs/protocol.md section 4).
//!
//! Authenticators run in order; the first that recognises the request gives the user, and a
//! request none recognises is anonymous. Writing one takes a struct and one method:
//!
//! ```
//! use chanbind_engine::auth::{AuthFuture, Authenticator, RequestHead, User};
//!
//! /// Accepts `Authorization: Bearer user-<id>`; a real one would check a signature.
//! struct Demo;
//!
//! impl Authenticator for Demo {
//!     fn authenticate<'a>(&'a self, head: &'a RequestHead) -> AuthFuture<'a> {
//!         let user = head
//!             .bearer()
//!             .and_then(|t| t.strip_prefix("user-"))
//!             .and_then(|id| id.parse().ok())
//!             .map(|id| User::new(id, format!("user{id}")));
//!         Box::pin(async move { Ok(user) })
//!     }
//! }
//! ```

mod extension;
#[cfg(feature = "jwt")]
mod jwt;
mod token;

pub use extension::ExtensionAuthenticator;
#[cfg(feature = "jwt")]
pub use jwt::{JwksError, JwtAuthenticator};
pub use token::TokenAuthenticator;

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde_json::{Map, Value};

/// A signed-in user, as an authenticator recognised them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// The user's id (the primary key of `auth.User` in the demo).
    pub id: i64,
    /// The user's name.
    pub name: String,
    /// Claims or roles that permissions may read; never sent to the client.
    #[serde(skip)]
    pub claims: Map<String, Value>,
    /// When the credential this user was recognised by stops being valid (a JWT's `exp`);
    /// `None` when it does not expire. A connection is warned before then and closed when it
    /// passes, unless it refreshes its credential in-band (docs/protocol.md section 4).
    #[serde(skip)]
    pub expires_at: Option<std::time::SystemTime>,
}

impl User {
    /// A user with an id and a name and no claims.
    pub fn new(id: i64, name: impl Into<String>) -> Self {
        User {
            id,
            name: name.into(),
            claims: Map::new(),
            expires_at: None,
        }
    }

    /// Sets when the user's credential expires.
    pub fn expiring_at(mut self, at: std::time::SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Adds a claim.
    pub fn with_claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Whether the claim `name` is `true`.
    pub fn has(&self, name: &str) -> bool {
        self.claims.get(name) == Some(&Value::Bool(true))
    }

    /// The user's roles: the strings of the claim `roles` (where `JwtAuthenticator` puts a
    /// token's roles); none when it is missing.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.claims
            .get(ROLES_CLAIM)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// Whether [`roles`](Self::roles) include `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }
}

/// The claim [`User::roles`] reads: an array of strings.
pub const ROLES_CLAIM: &str = "roles";

/// The parts of a handshake or HTTP request authenticators read.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    /// The request's URI (path and query).
    pub uri: http::Uri,
    /// Its headers.
    pub headers: http::HeaderMap,
    /// The address of the client, when the adapter knows it (per-address limits of anonymous
    /// clients use it).
    pub peer: Option<std::net::IpAddr>,
    /// What the host application's middleware attached to the request (the async adapter's
    /// service copies the request's extensions here; the blocking adapter has none), read by
    /// [`ExtensionAuthenticator`].
    pub extensions: http::Extensions,
}

/// The query parameter and the cookie a token may come in (besides `Authorization: Bearer`).
pub const TOKEN_PARAM: &str = "token";

impl RequestHead {
    /// The head of a request as an HTTP parser gave it, with the client's address if known.
    pub fn from_parts(parts: &http::request::Parts, peer: Option<std::net::IpAddr>) -> Self {
        RequestHead {
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            peer,
            extensions: parts.extensions.clone(),
        }
    }

    /// The token the request presents explicitly: `Authorization: Bearer`, else the `token`
    /// query parameter (browsers cannot set headers on a WebSocket). Cookies are left out:
    /// a browser attaches them to requests other sites' pages send.
    pub fn explicit_token(&self) -> Option<String> {
        match self.bearer() {
            Some(token) => Some(token.to_owned()),
            None => self.query_param(TOKEN_PARAM),
        }
    }

    /// The token the request carries: [`explicit_token`](Self::explicit_token), else the
    /// `token` cookie. The first of them present is the only one read.
    pub fn token(&self) -> Option<String> {
        self.explicit_token()
            .or_else(|| self.cookie(TOKEN_PARAM).map(str::to_owned))
    }

    /// The token of `Authorization: Bearer <token>`.
    pub fn bearer(&self) -> Option<&str> {
        let value = self
            .headers
            .get(http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// A query parameter, percent-decoded (`+` is a space; invalid UTF-8 is replaced).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.uri.query()?;
        form_urlencoded::parse(query.as_bytes())
            .find_map(|(k, v)| (k == name).then(|| v.into_owned()))
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then_some(v)
            })
    }
}

/// Why an authenticator did not give a user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// The request carries a credential this authenticator owns, and it is wrong (an unknown
    /// or expired token). The request is refused with HTTP 401 at once: later authenticators
    /// and anonymous access are not tried, so a mistyped token never quietly becomes another
    /// identity.
    #[error("invalid credentials")]
    Rejected,
    /// The authenticator could not decide (its session store is down, say). The adapter
    /// answers with 503 rather than letting the request in anonymously.
    #[error("authentication failed: {0}")]
    Unavailable(String),
}

/// The boxed future of an authenticator's answer: `Ok(None)` when the request carries none of
/// its credentials.
pub type AuthFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<User>, AuthError>> + Send + 'a>>;

/// Recognises users from a request.
pub trait Authenticator: Send + Sync + 'static {
    /// The user this request belongs to, `Ok(None)` when it does not recognise it.
    fn authenticate<'a>(&'a self, head: &'a RequestHead) -> AuthFuture<'a>;
}

/// Why a handshake or HTTP request is refused before any frame is exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nobody recognised the request and anonymous connections are not allowed: HTTP 401.
    #[error("authentication required")]
    Unauthenticated,
    /// An authenticator failed: HTTP 503.
    #[error("authentication is unavailable")]
    Unavailable,
    /// A page from an origin that is not allowed tried to connect, or to write with the
    /// browser's cookies: HTTP 403.
    #[error("this origin is not allowed")]
    ForbiddenOrigin,
    /// A request that carries cookies and no token came without an `Origin` header, so the
    /// server cannot tell it from a page of another site (a browser always sends one on a
    /// WebSocket handshake): HTTP 403. A client outside a browser sends `Origin` itself.
    #[error("a request with cookies must send its Origin")]
    MissingOrigin,
    /// The server, or this user or address, holds as many connections as it may: HTTP 503.
    #[error("too many connections; try again later")]
    TooManyConnections,
}

impl Refusal {
    /// The HTTP status to answer with.
    pub fn http_status(self) -> u16 {
        match self {
            Refusal::Unauthenticated => 401,
            Refusal::ForbiddenOrigin | Refusal::MissingOrigin => 403,
            Refusal::Unavailable | Refusal::TooManyConnections => 503,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(uri: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        RequestHead {
            uri: uri.parse().unwrap(),
            headers: map,
            ..Default::default()
        }
    }

    #[test]
    fn reads_bearer_query_and_cookie() {
        let h = head(
            "/?a=1&token=s%20e+cret",
            &[("authorization", "Bearer abc"), ("cookie", "x=1; token=ck")],
        );
        assert_eq!(h.bearer(), Some("abc"));
        assert_eq!(h.query_param("token").as_deref(), Some("s e cret"));
        assert_eq!(h.cookie("token"), Some("ck"));
        assert_eq!(head("/", &[("authorization", "Basic abc")]).bearer(), None);
        assert_eq!(
            head("/?token=%zz%4", &[]).query_param("token").as_deref(),
            Some("%zz%4")
        );
    }

    #[test]
    fn a_percent_before_a_multibyte_character_is_kept_as_written() {
        // `%€`: the two bytes after `%` are not both ASCII; this once panicked on slicing.
        let h = head("/?%E2%82%AC=1&%€=2&token=%", &[]);
        assert_eq!(h.query_param("€").as_deref(), Some("1"));
        assert_eq!(h.query_param("%€").as_deref(), Some("2"));
        assert_eq!(h.query_param("token").as_deref(), Some("%"));
    }
}
