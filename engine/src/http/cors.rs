//! Cross-origin requests: which web pages may call the API from a browser.

use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method};

/// Which origins may call the API from a browser, and with what. Off by default: a page on
/// another origin can then neither read responses nor send JSON bodies.
///
/// ```
/// use std::time::Duration;
/// use chanbind_engine::http::Cors;
///
/// let cors = Cors::origins(["https://app.example.com"])
///     .headers(["authorization", "content-type", "x-request-id"])
///     .max_age(Duration::from_secs(600));
/// assert!(cors.allows_origin("https://app.example.com"));
/// assert!(!cors.allows_origin("https://evil.example.net"));
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Origins,
    methods: Vec<Method>,
    headers: Vec<String>,
    expose: Vec<String>,
    max_age: Option<Duration>,
    credentials: bool,
}

#[derive(Debug, Clone)]
enum Origins {
    List(Vec<String>),
    Any,
}

impl Default for Cors {
    fn default() -> Self {
        Cors::disabled()
    }
}

impl Cors {
    /// No origin is allowed: responses carry no CORS headers.
    pub fn disabled() -> Self {
        Cors::with(Origins::List(Vec::new()))
    }

    /// Every origin is allowed (`Access-Control-Allow-Origin: *`, or the origin itself when
    /// credentials are allowed).
    pub fn any_origin() -> Self {
        Cors::with(Origins::Any)
    }

    /// These origins, and only these, may also send cookies and read the responses to
    /// credentialed requests (`Access-Control-Allow-Credentials: true`). There is no way to
    /// allow credentials from every origin: that would let any site read what the browser's
    /// cookie may read.
    ///
    /// ```
    /// use chanbind_engine::http::Cors;
    ///
    /// let cors = Cors::credentialed_origins(["https://app.example.com"]);
    /// assert!(cors.allows_origin("https://app.example.com"));
    /// ```
    ///
    /// `Cors::any_origin()` has no way to add credentials:
    ///
    /// ```compile_fail
    /// let cors = chanbind_engine::http::Cors::any_origin().allow_credentials(true);
    /// ```
    pub fn credentialed_origins<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        let mut cors = Cors::origins(origins);
        cors.credentials = true;
        cors
    }

    /// These origins (`scheme://host[:port]`, compared exactly) are allowed.
    pub fn origins<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        Cors::with(Origins::List(origins.into_iter().map(Into::into).collect()))
    }

    fn with(origins: Origins) -> Self {
        Cors {
            origins,
            methods: [
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ]
            .into(),
            // `if-match` and `etag` carry version checks, `idempotency-key` and
            // `idempotent-replayed` request ids (docs/protocol.md section 6).
            headers: vec![
                "authorization".into(),
                "content-type".into(),
                "if-match".into(),
                super::request_id::IDEMPOTENCY_KEY.into(),
            ],
            expose: vec![
                "location".into(),
                "etag".into(),
                super::request_id::REPLAYED.into(),
            ],
            max_age: Some(Duration::from_secs(3600)),
            credentials: false,
        }
    }

    /// The methods a page may use (default: GET, HEAD, POST, PUT, PATCH and DELETE).
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The request headers a page may send (default: `authorization`, `content-type` and
    /// `if-match` and `idempotency-key`).
    pub fn headers<S: AsRef<str>>(mut self, headers: impl IntoIterator<Item = S>) -> Self {
        self.headers = headers
            .into_iter()
            .map(|h| h.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// The response headers a page may read beyond the safe ones (default: `location` and
    /// `etag` and `idempotent-replayed`).
    pub fn expose_headers<S: AsRef<str>>(mut self, headers: impl IntoIterator<Item = S>) -> Self {
        self.expose = headers
            .into_iter()
            .map(|h| h.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// How long a browser may cache a preflight answer (default: an hour; `None` to not say).
    pub fn max_age(mut self, age: impl Into<Option<Duration>>) -> Self {
        self.max_age = age.into();
        self
    }

    /// Whether a page from `origin` may call the API.
    pub fn allows_origin(&self, origin: &str) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::List(list) => list.iter().any(|o| o == origin),
        }
    }

    /// Whether the request is a preflight: OPTIONS with `Origin` and
    /// `Access-Control-Request-Method`.
    pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(ORIGIN)
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The headers of a preflight answer, or `None` when the origin, method or a requested
    /// header is not allowed (the browser then refuses the request, as it should).
    pub(crate) fn preflight(&self, request: &HeaderMap) -> Option<HeaderMap> {
        let mut out = self.origin_headers(request)?;
        let method = request.get(ACCESS_CONTROL_REQUEST_METHOD)?.to_str().ok()?;
        if !self.methods.iter().any(|m| m.as_str() == method) {
            return None;
        }
        let asked = request
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty());
        for header in asked {
            if !self.headers.contains(&header) {
                return None;
            }
        }
        let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        insert(&mut out, ACCESS_CONTROL_ALLOW_METHODS, &methods.join(", "));
        insert(
            &mut out,
            ACCESS_CONTROL_ALLOW_HEADERS,
            &self.headers.join(", "),
        );
        if let Some(age) = self.max_age {
            insert(&mut out, ACCESS_CONTROL_MAX_AGE, &age.as_secs().to_string());
        }
        Some(out)
    }

    /// The headers every response to an allowed origin carries; empty otherwise.
    pub(crate) fn response_headers(&self, request: &HeaderMap) -> HeaderMap {
        let Some(mut out) = self.origin_headers(request) else {
            return HeaderMap::new();
        };
        if !self.expose.is_empty() {
            insert(
                &mut out,
                ACCESS_CONTROL_EXPOSE_HEADERS,
                &self.expose.join(", "),
            );
        }
        out
    }

    fn origin_headers(&self, request: &HeaderMap) -> Option<HeaderMap> {
        let origin = request.get(ORIGIN)?.to_str().ok()?;
        if !self.allows_origin(origin) {
            return None;
        }
        let mut out = HeaderMap::new();
        // `credentials` is set only with a list of origins (`credentialed_origins`).
        if matches!(self.origins, Origins::Any) {
            insert(&mut out, ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        } else {
            // The answer depends on the Origin, so caches must keep one copy per origin.
            insert(&mut out, ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            insert(&mut out, VARY, "Origin");
        }
        if self.credentials {
            insert(&mut out, ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        Some(out)
    }
}

fn insert(map: &mut HeaderMap, name: http::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        map.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn preflight_checks_origin_method_and_headers() {
        let cors = Cors::origins(["https://a.test"]);
        let ok = request(&[
            ("origin", "https://a.test"),
            ("access-control-request-method", "PATCH"),
            (
                "access-control-request-headers",
                "Content-Type, Authorization",
            ),
        ]);
        let out = cors.preflight(&ok).unwrap();
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "https://a.test");
        assert_eq!(out[VARY], "Origin");
        assert!(out[ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("PATCH"));
        let other = request(&[
            ("origin", "https://b.test"),
            ("access-control-request-method", "GET"),
        ]);
        assert!(cors.preflight(&other).is_none());
        let header = request(&[
            ("origin", "https://a.test"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-secret"),
        ]);
        assert!(cors.preflight(&header).is_none());
        assert!(Cors::disabled().preflight(&ok).is_none());
    }

    #[test]
    fn any_origin_is_a_star_and_credentials_name_their_origins() {
        let req = request(&[("origin", "https://x.test")]);
        assert_eq!(
            Cors::any_origin().response_headers(&req)[ACCESS_CONTROL_ALLOW_ORIGIN],
            "*"
        );
        assert!(!Cors::any_origin()
            .response_headers(&req)
            .contains_key(ACCESS_CONTROL_ALLOW_CREDENTIALS));
        let creds = Cors::credentialed_origins(["https://x.test"]).response_headers(&req);
        assert_eq!(creds[ACCESS_CONTROL_ALLOW_ORIGIN], "https://x.test");
        assert_eq!(creds[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(creds[VARY], "Origin");
        let other = request(&[("origin", "https://evil.test")]);
        assert!(Cors::credentialed_origins(["https://x.test"])
            .response_headers(&other)
            .is_empty());
        assert!(Cors::disabled().response_headers(&req).is_empty());
    }
}
