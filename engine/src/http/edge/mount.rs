//! Where a server's paths sit in a larger application.

/// The path an application mounts chanbind under (`/realtime`), as a request extension. An
/// adapter that serves below a mount point inserts it, with the request's path made relative
/// to it; the engine routes by the relative path and writes the mount into what names a URL:
/// the 426 body, `Location` headers and the OpenAPI document's server URL. Without one the
/// server is its own root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount(String);

impl Mount {
    /// The mount point `path`: `""` and `"/"` are the root, a trailing slash is dropped and a
    /// missing leading one added (`"realtime/"` is `/realtime`).
    pub fn new(path: &str) -> Mount {
        let path = path.trim_end_matches('/');
        if path.is_empty() || path.starts_with('/') {
            Mount(path.to_owned())
        } else {
            Mount(format!("/{path}"))
        }
    }

    /// The mount point without a trailing slash; `""` for the root.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The mount of a request, from its extensions; `""` when it has none.
    pub fn of(extensions: &http::Extensions) -> &str {
        extensions.get::<Mount>().map_or("", Mount::as_str)
    }

    /// `path` made relative to this mount point: `Some("/")` for the mount point itself (with
    /// or without its trailing slash), `None` when `path` lies outside it.
    pub fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.0.as_str())?;
        if rest.is_empty() {
            Some("/")
        } else {
            rest.starts_with('/').then_some(rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_strips_on_segment_boundaries() {
        assert_eq!(Mount::new("/").as_str(), "");
        assert_eq!(Mount::new("realtime/").as_str(), "/realtime");
        let mount = Mount::new("/realtime");
        assert_eq!(mount.strip("/realtime"), Some("/"));
        assert_eq!(mount.strip("/realtime/api/x"), Some("/api/x"));
        assert_eq!(mount.strip("/realtimes"), None);
        assert_eq!(Mount::default().strip("/api"), Some("/api"));
    }
}
