//! The demo's task board page, built from `client/demo` (React, Material UI and the chanbind
//! client) and embedded in the binary, so that a user with only the Rust toolchain gets it.
//!
//! The files under `examples/assets/demo/` are build output, committed: rebuild them with
//! `cd client && npm ci && npm run build:demo` after changing the client. Their names are
//! fixed (not hashed), so this list only changes when a file is added.
//!
//! The server answers a plain HTTP `GET` (or `HEAD`) whose path [`lookup`] knows with the
//! file; a WebSocket upgrade on the same path `/` is still the WebSocket endpoint.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The URL path it is served at, starting with `/`.
    pub path: &'static str,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The `Cache-Control` header value: the names are not hashed, so browsers must
    /// revalidate.
    pub cache_control: &'static str,
    /// The bytes.
    pub body: &'static [u8],
}

const INDEX: &[u8] = include_bytes!("../assets/demo/index.html");
const APP_JS: &[u8] = include_bytes!("../assets/demo/assets/app.js");

/// Every embedded file. `/` and `/index.html` are the same page.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        body: INDEX,
    },
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        body: INDEX,
    },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: "no-cache",
        body: APP_JS,
    },
];

/// The file served at `path` (the request target's path, without its query string), if any.
pub fn lookup(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_its_script() {
        let index = lookup("/").expect("the page");
        assert!(index.content_type.starts_with("text/html"));
        let html = std::str::from_utf8(index.body).expect("utf-8");
        assert!(
            html.contains("/assets/app.js"),
            "the page loads the script it is served with"
        );
        assert!(lookup("/assets/app.js").is_some_and(|a| !a.body.is_empty()));
        assert!(lookup("/nope").is_none());
    }
}
