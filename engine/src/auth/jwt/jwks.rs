//! Where a JWKS document comes from, and its cache: read or fetched again on an interval and
//! on an unknown `kid`, never more often than the rate limit allows.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;

use super::fetch::Fetcher;
use super::keys::{Key, KeySet};

/// Why a JWKS document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The file could not be read.
    #[error("cannot read the JWKS file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The document is not a JWKS document (`{"keys": [...]}`).
    #[error("not a JWKS document: {0}")]
    Invalid(String),
    /// The document has no key this authenticator can verify with.
    #[error("the JWKS document has no usable signing key")]
    NoKeys,
    /// The document is larger than the limit.
    #[error("the JWKS document is larger than {0} bytes")]
    TooLarge(usize),
    /// The URL is not an `http://` (or, with the `jwt-https` feature, `https://`) URL.
    #[error("cannot fetch a JWKS document from {0}")]
    BadUrl(String),
    /// The fetch failed: no connection, a non-2xx status, a timeout.
    #[error("fetching the JWKS document failed: {0}")]
    Fetch(String),
}

/// What a lookup found.
#[derive(Debug)]
pub(super) enum Lookup {
    /// The key to verify with.
    Found(Arc<Key>),
    /// The set has no key for this token.
    Unknown,
    /// There are no keys: the document could not be had (why).
    Unavailable(String),
}

/// Where the document is.
#[derive(Debug, Clone)]
enum Origin {
    /// Given once; never read again.
    Fixed,
    /// A file, read again on the interval.
    File(PathBuf),
    /// A URL, fetched on the interval and on unknown kids.
    Url(Box<Fetcher>),
}

/// How the document is kept fresh (set while the authenticator is built).
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// How often the document is read or fetched again.
    pub(super) refresh_every: Duration,
    /// The least time between two fetches (of a URL) or reads (of a file).
    pub(super) min_refetch: Duration,
    /// How long a fetch may take.
    pub(super) fetch_timeout: Duration,
    /// The largest document read, in bytes.
    pub(super) max_document: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            refresh_every: Duration::from_secs(300),
            min_refetch: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
            max_document: 1 << 20,
        }
    }
}

/// The cached keys.
#[derive(Debug, Default)]
struct Cached {
    keys: Arc<KeySet>,
    /// When the keys were last loaded; `None` before the first success.
    loaded_at: Option<Instant>,
    /// Bumped on every load, so a waiter can tell that another request just loaded.
    generation: u64,
    /// Why the last attempt failed, when it did.
    last_error: Option<String>,
}

/// A JWKS document and its cache; clones share the cache.
#[derive(Debug, Clone)]
pub(super) struct JwksSource {
    origin: Origin,
    pub(super) settings: Settings,
    cached: Arc<RwLock<Cached>>,
    /// Held while a load runs (one at a time) and holding when the last one started: the
    /// rate limit.
    attempt: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl JwksSource {
    fn with_origin(origin: Origin, keys: Option<KeySet>) -> Self {
        let loaded = keys.is_some();
        let now = Instant::now();
        JwksSource {
            origin,
            settings: Settings::default(),
            cached: Arc::new(RwLock::new(Cached {
                keys: Arc::new(keys.unwrap_or_default()),
                loaded_at: loaded.then_some(now),
                generation: 0,
                last_error: None,
            })),
            attempt: Arc::new(tokio::sync::Mutex::new(loaded.then_some(now))),
        }
    }

    /// A document given once.
    pub(super) fn fixed(keys: KeySet) -> Self {
        Self::with_origin(Origin::Fixed, Some(keys))
    }

    /// A file, read now.
    pub(super) fn file(path: PathBuf) -> Result<Self, JwksError> {
        let keys = read_file(&path, Settings::default().max_document)?;
        Ok(Self::with_origin(Origin::File(path), Some(keys)))
    }

    /// A URL, fetched on first use.
    pub(super) fn url(url: &str) -> Result<Self, JwksError> {
        Ok(Self::with_origin(
            Origin::Url(Box::new(Fetcher::new(url)?)),
            None,
        ))
    }

    /// The key for a token's `kid` and `alg`: from the cache while it is fresh, after a
    /// load when it is stale, empty or lacks the `kid` (at most one load per `min_refetch`).
    pub(super) async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let (keys, generation, fresh) = self.snapshot();
        if let Some(key) = keys.find(kid, alg) {
            if fresh || matches!(self.origin, Origin::Fixed) {
                return Lookup::Found(key);
            }
            // Stale: refresh, unless another request is refreshing now; meanwhile the keys
            // we have still verify.
            if let Ok(attempt) = self.attempt.try_lock() {
                self.refresh(attempt, generation).await;
            }
            return match self.snapshot().0.find(kid, alg) {
                Some(key) => Lookup::Found(key),
                None => Lookup::Unknown,
            };
        }
        if !matches!(self.origin, Origin::Fixed) {
            let attempt = self.attempt.lock().await;
            self.refresh(attempt, generation).await;
        }
        let cached = self.cached.read().unwrap_or_else(|p| p.into_inner());
        match cached.keys.find(kid, alg) {
            Some(key) => Lookup::Found(key),
            None if cached.loaded_at.is_none() => Lookup::Unavailable(
                cached
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "not loaded yet".to_owned()),
            ),
            None => Lookup::Unknown,
        }
    }

    /// Loads the document now (for `JwtAuthenticator::preload`), rate limit aside.
    pub(super) async fn load(&self) -> Result<(), JwksError> {
        let mut attempt = self.attempt.lock().await;
        *attempt = Some(Instant::now());
        let keys = self.read().await?;
        self.store(Ok(keys));
        Ok(())
    }

    /// The cached keys, their generation and whether they are fresh.
    fn snapshot(&self) -> (Arc<KeySet>, u64, bool) {
        let cached = self.cached.read().unwrap_or_else(|p| p.into_inner());
        let fresh = cached
            .loaded_at
            .is_some_and(|at| at.elapsed() < self.settings.refresh_every);
        (Arc::clone(&cached.keys), cached.generation, fresh)
    }

    /// Loads the document unless another request did since `seen` or the last attempt is
    /// more recent than `min_refetch`.
    async fn refresh(&self, mut attempt: tokio::sync::MutexGuard<'_, Option<Instant>>, seen: u64) {
        if self.snapshot().1 != seen {
            return;
        }
        if attempt.is_some_and(|at| at.elapsed() < self.settings.min_refetch) {
            return;
        }
        *attempt = Some(Instant::now());
        let loaded = self.read().await;
        self.store(loaded);
    }

    /// Keeps a load's outcome: new keys, or the old ones and why the load failed.
    fn store(&self, loaded: Result<KeySet, JwksError>) {
        let mut cached = self.cached.write().unwrap_or_else(|p| p.into_inner());
        cached.generation += 1;
        match loaded {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS loaded");
                cached.keys = Arc::new(keys);
                cached.loaded_at = Some(Instant::now());
                cached.last_error = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, cached_keys = cached.keys.len(), "JWKS refresh failed; keeping the keys we have");
                cached.last_error = Some(e.to_string());
            }
        }
    }

    /// Reads or fetches the document.
    async fn read(&self) -> Result<KeySet, JwksError> {
        match &self.origin {
            Origin::Fixed => Err(JwksError::Fetch("a fixed document is not reloaded".into())),
            Origin::File(path) => read_file(path, self.settings.max_document),
            Origin::Url(fetcher) => {
                let body = fetcher
                    .get(self.settings.fetch_timeout, self.settings.max_document)
                    .await?;
                KeySet::parse(&body)
            }
        }
    }
}

/// Reads and parses a JWKS file of at most `limit` bytes. The read blocks, briefly: the file
/// is small and local, and this runs once per interval.
fn read_file(path: &std::path::Path, limit: usize) -> Result<KeySet, JwksError> {
    use std::io::Read;
    let read_error = |source| JwksError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() > limit {
        return Err(JwksError::TooLarge(limit));
    }
    KeySet::parse(&bytes)
}
