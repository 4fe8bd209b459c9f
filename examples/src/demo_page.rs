//! The demo's task board page, built from `client/demo` (React, Material UI and the chanbind
//! client) and embedded in the binary, so that a user with only the Rust toolchain gets it.
//!
//! The files under `examples/assets/demo/` are build output, committed: rebuild them with
//! `cd client && npm ci && npm run build:demo` after changing the client. Their names are
//! fixed (not hashed), so this list only changes when a file is added.
//!
//! The demo passes [`ASSETS`] to the server's HTTP configuration, which answers a plain
//! `GET` (or `HEAD`) of one of their paths with the file; a WebSocket upgrade on the same path `/` is still the WebSocket endpoint.

use chanbind_engine::http::StaticFile;

const INDEX: &[u8] = include_bytes!("../assets/demo/index.html");
const APP_JS: &[u8] = include_bytes!("../assets/demo/assets/app.js");

/// Every embedded file. `/` and `/index.html` are the same page.
pub const ASSETS: &[StaticFile] = &[
    StaticFile {
        path: "/",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        body: INDEX,
    },
    StaticFile {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        body: INDEX,
    },
    StaticFile {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: "no-cache",
        body: APP_JS,
    },
];

/// The file served at `path` (the request target's path, without its query string), if any.
pub fn lookup(path: &str) -> Option<&'static StaticFile> {
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
