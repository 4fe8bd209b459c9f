//! Which web pages may act through a browser's ambient credentials: the `Origin` check of
//! WebSocket handshakes and of cookie-authenticated HTTP writes.
//!
//! Browsers attach cookies to any request a page sends, whoever wrote the page, and a
//! WebSocket handshake is not subject to CORS. Without this check a page on any site could
//! open a socket as the signed-in user (cross-site WebSocket hijacking) or send a body-less
//! `POST` as them. Browsers always send `Origin` on WebSocket handshakes and on cross-origin
//! writes, so it is what is checked.

use http::header::{HOST, ORIGIN};
use http::Method;

use crate::auth::{Refusal, RequestHead};

/// The origins (`scheme://host[:port]`) whose pages may connect, besides the server's own.
///
/// - [`AllowedOrigins::same_origin`], the default: only pages served from the host the
///   request names (`Origin`'s host and port equal `Host`).
/// - [`AllowedOrigins::list`]: those origins too, compared exactly.
/// - [`AllowedOrigins::any`]: any page may connect with an explicit credential (a bearer
///   token or `?token=`) or none, but cookie credentials are still honoured only from the
///   server's own origin or a listed one. There is no way to let every site use cookies.
///
/// ```
/// use chanbind_engine::AllowedOrigins;
///
/// let origins = AllowedOrigins::list(["https://app.example.com"]);
/// assert!(origins.allows("https://app.example.com", "api.example.com"));
/// assert!(!origins.allows("https://evil.example.net", "api.example.com"));
/// assert!(origins.allows("https://api.example.com", "api.example.com"), "its own origin");
/// ```
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    listed: Vec<String>,
    any: bool,
}

impl AllowedOrigins {
    /// Only the server's own origin (the default).
    pub fn same_origin() -> Self {
        AllowedOrigins::default()
    }

    /// The server's own origin and these.
    pub fn list<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        AllowedOrigins {
            listed: origins
                .into_iter()
                .map(|o| o.into().trim_end_matches('/').to_owned())
                .collect(),
            any: false,
        }
    }

    /// Any origin, for requests without cookies; see the type's documentation.
    pub fn any() -> Self {
        AllowedOrigins {
            listed: Vec::new(),
            any: true,
        }
    }

    /// Adds origins to the list (keeping `any`).
    pub fn and<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        self.listed.extend(
            origins
                .into_iter()
                .map(|o| o.into().trim_end_matches('/').to_owned()),
        );
        self
    }

    /// Whether a page from `origin` may use cookies on a server reached as `host` (the
    /// `Host` header): the server's own origin or a listed one.
    pub fn allows(&self, origin: &str, host: &str) -> bool {
        same_host(origin, host) || self.listed.iter().any(|o| o == origin)
    }

    /// Checks a WebSocket handshake (`handshake`) or an HTTP request with `method`:
    ///
    /// - a request that carries cookies but no explicit credential authenticates by cookie:
    ///   a handshake or a write (not `GET`, `HEAD` or `OPTIONS`) then needs an `Origin` that
    ///   [`allows`](Self::allows) accepts;
    /// - any other handshake from a browser (it has `Origin`) needs an allowed origin, or
    ///   [`any`](Self::any).
    ///
    /// Refuses with [`Refusal::ForbiddenOrigin`], or [`Refusal::MissingOrigin`] for a request
    /// with cookies and no `Origin` (both HTTP 403).
    pub fn check(
        &self,
        head: &RequestHead,
        method: &Method,
        handshake: bool,
    ) -> Result<(), Refusal> {
        let origin = head.headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        let host = head
            .headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let by_cookie =
            head.headers.contains_key(http::header::COOKIE) && head.explicit_token().is_none();
        let writes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if by_cookie && (handshake || writes) {
            return match origin {
                Some(origin) if self.allows(origin, host) => Ok(()),
                Some(_) => Err(Refusal::ForbiddenOrigin),
                None => Err(Refusal::MissingOrigin),
            };
        }
        match origin {
            Some(origin) if handshake && !self.any && !self.allows(origin, host) => {
                Err(Refusal::ForbiddenOrigin)
            }
            _ => Ok(()),
        }
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the authority `host` (`host[:port]`), the
/// scheme's default port standing in when one of them has none.
fn same_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let split = |a: &str| -> (String, String) {
        // A bracketed IPv6 address has colons of its own.
        let (name, port) = match a.rfind(':') {
            Some(i) if !a[i..].contains(']') => (&a[..i], &a[i + 1..]),
            _ => (a, default),
        };
        (name.to_ascii_lowercase(), port.to_owned())
    };
    !host.is_empty() && split(authority) == split(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)], uri: &str) -> RequestHead {
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
            ..RequestHead::default()
        }
    }

    #[test]
    fn the_servers_own_origin_matches_with_or_without_default_ports() {
        assert!(same_host("http://localhost:8000", "localhost:8000"));
        assert!(same_host("https://Example.com", "example.com:443"));
        assert!(same_host("http://[::1]:80", "[::1]"));
        assert!(!same_host("http://localhost:8001", "localhost:8000"));
        assert!(!same_host("http://evil.com", "example.com"));
        assert!(!same_host("null", "example.com"));
        assert!(!same_host("http://example.com", ""));
    }

    #[test]
    fn cookie_handshakes_need_an_allowed_origin_even_under_any() {
        let get = Method::GET;
        let cookie = [("host", "api.test"), ("cookie", "token=t")];
        for origins in [AllowedOrigins::same_origin(), AllowedOrigins::any()] {
            let cross = [cookie[0], cookie[1], ("origin", "https://evil.test")];
            assert_eq!(
                origins.check(&head(&cross, "/"), &get, true),
                Err(Refusal::ForbiddenOrigin)
            );
            assert_eq!(
                origins.check(&head(&cookie, "/"), &get, true),
                Err(Refusal::MissingOrigin),
                "no Origin at all"
            );
            let own = [cookie[0], cookie[1], ("origin", "http://api.test")];
            assert_eq!(origins.check(&head(&own, "/"), &get, true), Ok(()));
        }
        // An explicit credential is not ambient: `any` lets any page use it.
        let bearer = [
            ("host", "api.test"),
            ("cookie", "token=t"),
            ("origin", "https://other.test"),
            ("authorization", "Bearer x"),
        ];
        let any = AllowedOrigins::any();
        assert_eq!(any.check(&head(&bearer, "/"), &get, true), Ok(()));
        assert_eq!(
            AllowedOrigins::same_origin().check(&head(&bearer, "/"), &get, true),
            Err(Refusal::ForbiddenOrigin),
            "but a browser handshake from elsewhere is refused by default"
        );
    }

    #[test]
    fn http_writes_by_cookie_need_an_allowed_origin_and_reads_do_not() {
        let origins = AllowedOrigins::list(["https://app.test/"]);
        let cross = [
            ("host", "api.test"),
            ("cookie", "token=t"),
            ("origin", "https://evil.test"),
        ];
        assert_eq!(
            origins.check(&head(&cross, "/api/x/"), &Method::POST, false),
            Err(Refusal::ForbiddenOrigin)
        );
        assert_eq!(
            origins.check(&head(&cross, "/api/x/"), &Method::GET, false),
            Ok(())
        );
        let listed = [
            ("host", "api.test"),
            ("cookie", "token=t"),
            ("origin", "https://app.test"),
        ];
        assert_eq!(
            origins.check(&head(&listed, "/api/x/"), &Method::DELETE, false),
            Ok(())
        );
        // Without cookies an HTTP request from anywhere is CORS's business, not this check's.
        let plain = [("host", "api.test"), ("origin", "https://evil.test")];
        assert_eq!(
            origins.check(&head(&plain, "/api/x/"), &Method::POST, false),
            Ok(())
        );
    }
}
