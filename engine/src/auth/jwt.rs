//! The JWT authenticator: a signed token names the user (docs/protocol.md section 4).
//!
//! Keys are an HS256 secret or a JWKS document (RS256, ES256 and the other asymmetric
//! algorithms of `jsonwebtoken`), read from a file or fetched from an http(s) URL and
//! refreshed on an interval. Each key accepts only the algorithm it is for, so a token cannot
//! choose `none` or have an RSA public key used as an HMAC secret.

mod claims;
mod fetch;
mod jwks;
mod keys;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, AuthFuture, Authenticator, RequestHead, User};
use claims::ClaimMapping;
pub use jwks::JwksError;
use jwks::{JwksSource, Lookup};
use keys::{Key, KeySet};

/// The leeway on `exp` and `nbf` unless [`JwtAuthenticator::leeway`] sets another: clocks
/// of the issuer and this server may differ by this much.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Recognises a request by a JSON Web Token (RFC 7519) in `Authorization: Bearer`, the
/// `token` query parameter or the `token` cookie ([`RequestHead::token`]).
///
/// ```no_run
/// use std::time::Duration;
/// use chanbind_engine::auth::JwtAuthenticator;
///
/// // A shared secret (HS256):
/// let hs = JwtAuthenticator::hs256("a long random secret")
///     .issuer("https://login.example.com")
///     .audience("chanbind");
/// // The identity provider's published keys (RS256, ES256, ...), fetched on the first
/// // request and every 10 minutes after (an https URL needs the `jwt-https` feature):
/// let idp = JwtAuthenticator::jwks_url("https://login.example.com/.well-known/jwks.json")
///     .expect("a valid URL")
///     .refresh_every(Duration::from_secs(600))
///     .roles_claim("realm_access.roles");
/// ```
///
/// What it checks, and how the token becomes a [`User`]:
///
/// - The signature, with the key the header's `kid` names (a token without `kid` is verified
///   with the set's only key of its `alg`), in the algorithm that key is for: `alg: none` and
///   an HS256 token checked against an RSA key are refused.
/// - `exp` is required (unless [`require_exp(false)`](Self::require_exp)) and must not have
///   passed; `nbf`, when present, must have; both with [`leeway`](Self::leeway) (30 s unless
///   set). `iss` and `aud` are required and checked when [`issuer`](Self::issuer) and
///   [`audience`](Self::audience) are configured.
/// - [`User::id`] is the [`id_claim`](Self::id_claim) (`sub` unless set): an integer or a
///   string of one. [`User::name`] is the [`name_claim`](Self::name_claim) (else `name`,
///   then `preferred_username`, then the id). Every claim of the token is copied into
///   [`User::claims`] for permissions to read, and the roles found at
///   [`roles_claim`](Self::roles_claim) (`roles` unless set; an array of strings or one
///   space-separated string) become `claims["roles"]` ([`User::roles`], [`User::has_role`]).
///   [`User::expires_at`] is `exp`.
///
/// A token that is not a JWT at all (not three dot-separated parts) is not this
/// authenticator's: it answers `Ok(None)` and the next authenticator tries (a
/// [`TokenAuthenticator`](super::TokenAuthenticator) of static secrets after it, say). A
/// JWT that fails any check is [`AuthError::Rejected`] (HTTP 401); a JWKS document that
/// cannot be had while no keys are cached is [`AuthError::Unavailable`] (HTTP 503).
#[derive(Debug, Clone)]
pub struct JwtAuthenticator {
    keys: Keys,
    mapping: ClaimMapping,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    require_exp: bool,
}

/// Where the verifying keys come from.
#[derive(Debug, Clone)]
enum Keys {
    /// One HS256 secret.
    Secret(Arc<Key>),
    /// A JWKS document, read or fetched; clones share its cache.
    Jwks(Box<JwksSource>),
}

impl JwtAuthenticator {
    fn with_keys(keys: Keys) -> Self {
        JwtAuthenticator {
            keys,
            mapping: ClaimMapping::default(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            require_exp: true,
        }
    }

    /// Verifies HS256 tokens signed with `secret` (use 32 random bytes or more).
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        let key = Key {
            kid: None,
            algorithms: vec![Algorithm::HS256],
            key: DecodingKey::from_secret(secret.as_ref()),
        };
        Self::with_keys(Keys::Secret(Arc::new(key)))
    }

    /// Verifies tokens with the keys of the JWKS document in the file at `path`, read now
    /// (so a missing or broken file is an error at startup) and again every
    /// [`refresh_every`](Self::refresh_every) (5 minutes unless set), so a rotated file is
    /// picked up without a restart.
    pub fn jwks_file(path: impl Into<PathBuf>) -> Result<Self, JwksError> {
        let source = JwksSource::file(path.into())?;
        Ok(Self::with_keys(Keys::Jwks(Box::new(source))))
    }

    /// Verifies tokens with the keys of a JWKS document given as JSON (keys of your own, or a
    /// document your program fetched itself); never refreshed.
    pub fn jwks_json(document: &str) -> Result<Self, JwksError> {
        let source = JwksSource::fixed(KeySet::parse(document.as_bytes())?);
        Ok(Self::with_keys(Keys::Jwks(Box::new(source))))
    }

    /// Verifies tokens with the keys of the JWKS document at `url` (`http://`, or `https://`
    /// with the `jwt-https` feature). It is fetched on the first request (or by
    /// [`preload`](Self::preload)), again every [`refresh_every`](Self::refresh_every)
    /// (5 minutes unless set), and when a token names a `kid` the cached set does not have,
    /// at most once every [`min_refetch`](Self::min_refetch) (30 s unless set), so clients
    /// sending made-up kids cannot make the server fetch over and over. A fetch that fails
    /// keeps the keys it had. Each fetch is bounded in time
    /// ([`fetch_timeout`](Self::fetch_timeout), 5 s) and size
    /// ([`max_document`](Self::max_document), 1 MiB); redirects are not followed.
    pub fn jwks_url(url: &str) -> Result<Self, JwksError> {
        let source = JwksSource::url(url)?;
        Ok(Self::with_keys(Keys::Jwks(Box::new(source))))
    }

    /// Fetches (or re-reads) the JWKS document now, so a server can find out at startup that
    /// its identity provider cannot be reached. Does nothing with an HS256 secret.
    pub async fn preload(&self) -> Result<(), JwksError> {
        match &self.keys {
            Keys::Secret(_) => Ok(()),
            Keys::Jwks(source) => source.load().await,
        }
    }

    /// How often the JWKS document is read or fetched again.
    pub fn refresh_every(self, every: Duration) -> Self {
        self.with_source(|s| s.refresh_every = every)
    }

    /// The least time between two fetches a token with an unknown `kid` triggers.
    pub fn min_refetch(self, interval: Duration) -> Self {
        self.with_source(|s| s.min_refetch = interval)
    }

    /// How long one fetch of the JWKS document may take.
    pub fn fetch_timeout(self, timeout: Duration) -> Self {
        self.with_source(|s| s.fetch_timeout = timeout)
    }

    /// The largest JWKS document read, in bytes; a larger one is a failed fetch.
    pub fn max_document(self, bytes: usize) -> Self {
        self.with_source(|s| s.max_document = bytes)
    }

    /// Changes the JWKS source's settings; they are set once, while building.
    fn with_source(mut self, change: impl FnOnce(&mut jwks::Settings)) -> Self {
        if let Keys::Jwks(source) = &mut self.keys {
            change(&mut source.settings);
        }
        self
    }

    /// Accepts only tokens whose `iss` is `issuer` (repeat for several accepted issuers).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts only tokens whose `aud` is, or contains, `audience` (repeat for several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// How far `exp` may have passed, and `nbf` may be ahead, and still be accepted (whole
    /// seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether a token without `exp` is refused (it is unless set to `false`: such a token
    /// would be valid forever).
    pub fn require_exp(mut self, require: bool) -> Self {
        self.require_exp = require;
        self
    }

    /// The claim that holds the user's id (`sub` unless set): an integer, or a string of one.
    pub fn id_claim(mut self, claim: impl Into<String>) -> Self {
        self.mapping.id = claim.into();
        self
    }

    /// The claim that holds the user's name (else `name`, then `preferred_username`).
    pub fn name_claim(mut self, claim: impl Into<String>) -> Self {
        self.mapping.name = Some(claim.into());
        self
    }

    /// The claim that holds the user's roles (`roles` unless set); a dotted path such as
    /// `realm_access.roles` reaches into an object when no claim has that exact name.
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.mapping.roles = claim.into();
        self
    }

    /// The checks of `jsonwebtoken` for a token in `algorithm`.
    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.required_spec_claims.clear();
        if self.require_exp {
            validation.required_spec_claims.insert("exp".to_owned());
        }
        if !self.issuers.is_empty() {
            validation.set_issuer(&self.issuers);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        if self.audiences.is_empty() {
            // Without a configured audience `jsonwebtoken` refuses every token that has one.
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audiences);
            validation.required_spec_claims.insert("aud".to_owned());
        }
        validation
    }

    /// The user of a JWT, or why it is refused.
    async fn verify(&self, token: &str) -> Result<User, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| reject("header", &e))?;
        let key = match &self.keys {
            Keys::Secret(key) => Arc::clone(key),
            Keys::Jwks(source) => match source.key(header.kid.as_deref(), header.alg).await {
                Lookup::Found(key) => key,
                Lookup::Unknown => {
                    tracing::debug!(kid = ?header.kid, alg = ?header.alg, "JWT refused: no key for it");
                    return Err(AuthError::Rejected);
                }
                Lookup::Unavailable(why) => {
                    return Err(AuthError::Unavailable(format!("JWKS unavailable: {why}")))
                }
            },
        };
        if !key.algorithms.contains(&header.alg) {
            tracing::debug!(alg = ?header.alg, "JWT refused: its key is for another algorithm");
            return Err(AuthError::Rejected);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &key.key,
            &self.validation(header.alg),
        )
        .map_err(|e| reject("claims or signature", &e))?;
        let mut user = self.mapping.user(data.claims).map_err(|why| {
            tracing::debug!(%why, "JWT refused");
            AuthError::Rejected
        })?;
        if let Some(exp) = user.claims.get("exp").and_then(Value::as_u64) {
            user.expires_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(exp));
        }
        Ok(user)
    }
}

/// Logs why a token was refused (at debug: clients send bad tokens all day) and refuses it.
fn reject(what: &str, error: &jsonwebtoken::errors::Error) -> AuthError {
    tracing::debug!(%error, "JWT refused: {what}");
    AuthError::Rejected
}

/// Whether `token` has the shape of a JWS in compact form: three parts, two dots.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

impl Authenticator for JwtAuthenticator {
    fn authenticate<'a>(&'a self, head: &'a RequestHead) -> AuthFuture<'a> {
        Box::pin(async move {
            match head.token().filter(|t| looks_like_jwt(t)) {
                None => Ok(None),
                Some(token) => self.verify(&token).await.map(Some),
            }
        })
    }
}

#[cfg(test)]
mod tests;
