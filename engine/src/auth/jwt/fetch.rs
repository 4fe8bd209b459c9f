//! Fetching a JWKS document over HTTP (and https with the `jwt-https` feature), bounded in
//! time and size.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::JwksError;

#[cfg(feature = "jwt-https")]
type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
#[cfg(not(feature = "jwt-https"))]
type Connector = hyper_util::client::legacy::connect::HttpConnector;

/// A GET of one URL.
#[derive(Debug, Clone)]
pub(super) struct Fetcher {
    uri: http::Uri,
    client: Client<Connector, Empty<Bytes>>,
}

impl Fetcher {
    /// A fetcher of `url`; an error when it is not a URL this build can fetch.
    pub(super) fn new(url: &str) -> Result<Self, JwksError> {
        let bad = || JwksError::BadUrl(url.to_owned());
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        if uri.host().is_none() {
            return Err(bad());
        }
        let connector = match uri.scheme_str() {
            Some("http") => connector(false)?,
            Some("https") if cfg!(feature = "jwt-https") => connector(true)?,
            _ => return Err(bad()),
        };
        // No idle connections are kept: fetches are minutes apart, and one may run on a
        // runtime of its own (see `get`) that a pooled connection must not outlive.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Fetcher { uri, client })
    }

    /// The document's bytes: a 2xx answer of at most `limit` bytes within `timeout`.
    ///
    /// It runs on the current tokio runtime when there is one (the async adapter's, or the
    /// engine runtime a blocking adapter's thread entered), else on a runtime of its own on a
    /// thread of its own, since an authenticator may be polled by a plain `block_on`.
    pub(super) async fn get(&self, timeout: Duration, limit: usize) -> Result<Bytes, JwksError> {
        let (client, uri) = (self.client.clone(), self.uri.clone());
        let work = async move {
            tokio::time::timeout(timeout, fetch(client, uri, limit))
                .await
                .map_err(|_| JwksError::Fetch(format!("no answer within {timeout:?}")))?
        };
        let ended = |e: &dyn std::fmt::Display| JwksError::Fetch(format!("the fetch ended: {e}"));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.spawn(work).await.map_err(|e| ended(&e))?,
            Err(_) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || {
                    let out = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(work),
                        Err(e) => Err(ended(&e)),
                    };
                    let _ = tx.send(out);
                });
                rx.await.map_err(|e| ended(&e))?
            }
        }
    }
}

/// The connector for `http` or `https` URLs.
#[cfg(feature = "jwt-https")]
fn connector(_https: bool) -> Result<Connector, JwksError> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| JwksError::Fetch(format!("no root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build())
}

/// The connector for `http` URLs.
#[cfg(not(feature = "jwt-https"))]
fn connector(_https: bool) -> Result<Connector, JwksError> {
    Ok(hyper_util::client::legacy::connect::HttpConnector::new())
}

async fn fetch(
    client: Client<Connector, Empty<Bytes>>,
    uri: http::Uri,
    limit: usize,
) -> Result<Bytes, JwksError> {
    let request = http::Request::get(uri)
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| JwksError::Fetch(e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| JwksError::Fetch(e.to_string()))?;
    if !response.status().is_success() {
        return Err(JwksError::Fetch(format!("HTTP {}", response.status())));
    }
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(JwksError::TooLarge(limit));
    }
    let body = Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                JwksError::TooLarge(limit)
            } else {
                JwksError::Fetch(e.to_string())
            }
        })?;
    Ok(body.to_bytes())
}
