//! Fixed files served next to the API (a demo page, say), the same way by both adapters.

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};

use super::HttpResponse;

/// One file the server answers a plain `GET` or `HEAD` of its path with. A WebSocket upgrade
/// on the same path still opens the WebSocket.
#[derive(Debug, Clone, Copy)]
pub struct StaticFile {
    /// The URL path, starting with `/`.
    pub path: &'static str,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The `Cache-Control` header value.
    pub cache_control: &'static str,
    /// The bytes.
    pub body: &'static [u8],
}

/// The answer of the file at `parts`' path, if one is configured there.
pub(crate) fn find(files: &[StaticFile], parts: &http::request::Parts) -> Option<HttpResponse> {
    find_at(files, &parts.method, parts.uri.path())
}

/// The answer of the file at `path`, if one is configured there.
pub(crate) fn find_at(files: &[StaticFile], method: &Method, path: &str) -> Option<HttpResponse> {
    files
        .iter()
        .find(|f| f.path == path)
        .map(|f| f.respond(method))
}

impl StaticFile {
    /// The response to `method`: the file for `GET`, its headers for `HEAD`, 405 otherwise.
    pub fn respond(&self, method: &Method) -> HttpResponse {
        let mut response = HttpResponse::new(Vec::new());
        if method != Method::GET && method != Method::HEAD {
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(self.cache_control));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        if method == Method::GET {
            *response.body_mut() = self.body.to_vec();
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: StaticFile = StaticFile {
        path: "/",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        body: b"<p>hi</p>",
    };

    #[test]
    fn get_head_and_other_methods() {
        let get = PAGE.respond(&Method::GET);
        assert_eq!(
            (get.status(), get.body().as_slice()),
            (StatusCode::OK, &b"<p>hi</p>"[..])
        );
        let head = PAGE.respond(&Method::HEAD);
        assert!(head.body().is_empty());
        assert_eq!(head.headers()[CONTENT_LENGTH], "9");
        let post = PAGE.respond(&Method::POST);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[ALLOW], "GET, HEAD");
    }
}
