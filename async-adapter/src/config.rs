//! How the async adapter's server and service answer.

use std::ops::{Deref, DerefMut};

use chanbind_engine::http::ServerSettings;

/// How a server ([`serve`](crate::serve)) or a mounted service ([`service`](crate::service))
/// answers: the settings both adapters share, and where the service is mounted.
///
/// It dereferences to its [`ServerSettings`], so `config.path` and `config.http` read and
/// write as fields. Build one with [`Default`] and the setters:
///
/// ```
/// use std::time::Duration;
/// let config = chanbind_async::ServerConfig::default()
///     .mount_path("/realtime")
///     .shutdown_grace(Duration::from_secs(2));
/// assert_eq!(config.path, "/");
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The WebSocket path, the HTTP API, the request limits and the shutdown grace.
    pub server: ServerSettings,
    /// Where a host application mounts the service (`/realtime`; default: the root). It names
    /// the mount point in the 426 body, `Location` headers and the OpenAPI server URL, and a
    /// request whose path starts with it has it stripped: a hyper server that hands every
    /// request to the service serves it under this path, and one that already stripped it
    /// (as routers that nest do) is served as well. With the `axum` feature, a request
    /// that carries axum's `OriginalUri` (every axum `Router` adds one) tells the service
    /// where it is nested, and this is not read.
    pub mount_path: String,
}

impl ServerConfig {
    /// A configuration with these settings, mounted at the root.
    pub fn new(server: ServerSettings) -> Self {
        ServerConfig {
            server,
            mount_path: String::new(),
        }
    }

    /// Sets [`mount_path`](Self::mount_path).
    pub fn mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount_path = path.into();
        self
    }

    chanbind_engine::server_settings_setters!(.server);
}

impl Deref for ServerConfig {
    type Target = ServerSettings;

    fn deref(&self) -> &ServerSettings {
        &self.server
    }
}

impl DerefMut for ServerConfig {
    fn deref_mut(&mut self) -> &mut ServerSettings {
        &mut self.server
    }
}
