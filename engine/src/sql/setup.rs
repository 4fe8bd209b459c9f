//! What both PostgreSQL stores share around the statements: their configuration, the
//! settings every connection runs with, the schema statements, set-up errors, and the map from
//! tables to streams. The stores differ only in the driver they call.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::binding::Registry;
use crate::store::SchemaError;

/// How long a request waits for a pooled connection.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long making a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `application_name` connections use unless the URL sets one.
pub const APPLICATION_NAME: &str = "chanbind";

/// Serializes migrations of concurrent servers: taken inside the migration's transaction.
pub const MIGRATE_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('chanbind.migrate'))";

/// Where and how a PostgreSQL store connects.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// A libpq-style URL or key-value string (`postgres://user@host:5432/db`).
    pub url: String,
    /// A schema to create if missing and to put first (and alone) on every connection's
    /// `search_path`; for isolating tests. A plain lower-case identifier.
    pub schema: Option<String>,
    /// The most connections the pool keeps open (at least 1).
    pub pool_size: usize,
    /// The most prepared statements each connection keeps ([`super::StatementCache`]); the
    /// least recently used is closed on the server when a new one does not fit. Every
    /// distinct statement text (a new filter key set, lookup or order) is one more, and each
    /// costs the server's backend memory while it is kept. 0 prepares every statement anew.
    pub statement_cache_capacity: usize,
}

/// The default of [`PgConfig::statement_cache_capacity`]: room for the op shapes an
/// application repeats, small enough that each backend stays small.
pub const STATEMENT_CACHE_CAPACITY: usize = 64;

impl Default for PgConfig {
    /// No URL yet, no schema, 16 connections and the default statement cache.
    fn default() -> Self {
        PgConfig {
            url: String::new(),
            schema: None,
            pool_size: 16,
            statement_cache_capacity: STATEMENT_CACHE_CAPACITY,
        }
    }
}

impl PgConfig {
    /// Refuses a schema name that is not a plain lower-case identifier, since it is spliced
    /// into `search_path` and schema statements.
    pub fn check(&self) -> Result<(), PgError> {
        match &self.schema {
            Some(schema) if !is_plain_identifier(schema) => Err(PgError::new(
                PgErrorKind::Config,
                format!("{schema:?} is not a plain lower-case identifier"),
            )),
            _ => Ok(()),
        }
    }

    /// The connection `options` to use, given the URL's own: UTC timestamps, floats that
    /// round-trip, the schema first on the search path, and the node's `origin`
    /// ([`super::capture::origin_option`]). The origin is a session setting rather than a
    /// `SET LOCAL` per write: it costs no statement, and a store's connections serve only
    /// its own node's writes.
    pub fn session_options(&self, existing: Option<&str>, origin: &str) -> String {
        let mut options = existing.unwrap_or_default().to_owned();
        options.push_str(" -c TimeZone=UTC -c extra_float_digits=1");
        if let Some(schema) = &self.schema {
            options.push_str(&format!(" -c search_path={schema}"));
        }
        options.push(' ');
        options.push_str(&super::capture::origin_option(origin));
        options.trim_start().to_owned()
    }

    /// `CREATE SCHEMA IF NOT EXISTS` for the configured schema.
    pub fn create_schema_sql(&self) -> Option<String> {
        self.schema
            .as_ref()
            .map(|s| format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
    }
}

/// `DROP SCHEMA ... CASCADE` for `schema`, refused without one so `public` is never dropped.
pub fn drop_schema_sql(schema: Option<&str>) -> Result<String, PgError> {
    match schema {
        Some(s) => Ok(format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE")),
        None => Err(PgError::new(PgErrorKind::Config, "no schema is configured")),
    }
}

/// A plain lower-case SQL identifier, the same rule the registry applies to tables.
fn is_plain_identifier(name: &str) -> bool {
    name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Which stream each table serves, so a delete refused by another table's foreign key can
/// name that stream.
#[derive(Debug, Default)]
pub struct TableStreams {
    map: RwLock<Arc<HashMap<String, String>>>,
}

impl TableStreams {
    /// Adds the tables of `registry`.
    pub fn register(&self, registry: &Registry) {
        let mut map = HashMap::clone(&self.snapshot());
        map.extend(
            registry
                .models()
                .map(|b| (b.table().to_owned(), b.stream().to_owned())),
        );
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
    }

    /// The current map, cheap to hold while classifying an error.
    pub fn snapshot(&self) -> Arc<HashMap<String, String>> {
        Arc::clone(&self.map.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What part of setting up a PostgreSQL store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgErrorKind {
    /// The configuration was refused: a bad URL, schema name or pool size.
    Config,
    /// The database could not be reached or refused the connection.
    Connect,
    /// A schema statement (creating, migrating or dropping) failed.
    Schema,
    /// The tables do not match the bindings ([`SchemaError::Mismatch`]); the detail names
    /// every `table.column`, what was declared and what was found.
    Mismatch,
    /// A table could not be introspected or bound
    /// ([`IntrospectError`](super::introspect::IntrospectError)).
    Introspect,
}

impl fmt::Display for PgErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PgErrorKind::Config => "invalid PostgreSQL store configuration",
            PgErrorKind::Connect => "cannot connect to PostgreSQL",
            PgErrorKind::Schema => "PostgreSQL schema statement failed",
            PgErrorKind::Mismatch => "the PostgreSQL tables do not match the bindings",
            PgErrorKind::Introspect => "cannot bind the PostgreSQL tables",
        })
    }
}

/// An error setting up or maintaining a PostgreSQL store. Store operations themselves fail
/// with [`StoreError`](crate::store::StoreError); this is for start-up and tests.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct PgError {
    kind: PgErrorKind,
    detail: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl PgError {
    /// An error without an underlying cause.
    pub fn new(kind: PgErrorKind, detail: impl Into<String>) -> Self {
        PgError {
            kind,
            detail: detail.into(),
            source: None,
        }
    }

    /// An error caused by `source` (the driver's, usually).
    pub fn with_source(
        kind: PgErrorKind,
        detail: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        PgError {
            kind,
            detail: detail.into(),
            source: Some(Box::new(source)),
        }
    }

    /// What failed.
    pub fn kind(&self) -> PgErrorKind {
        self.kind
    }
}

impl From<SchemaError> for PgError {
    /// A mismatch lists what differs; a schema that could not be read is a connection error.
    fn from(e: SchemaError) -> Self {
        match &e {
            SchemaError::Mismatch(list) => {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                PgError::with_source(PgErrorKind::Mismatch, items.join("; "), e)
            }
            SchemaError::Unavailable(why) => {
                PgError::with_source(PgErrorKind::Connect, why.clone(), e)
            }
        }
    }
}

impl From<super::introspect::IntrospectError> for PgError {
    fn from(e: super::introspect::IntrospectError) -> Self {
        PgError::with_source(PgErrorKind::Introspect, e.to_string(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_plain_identifier("parity_123_456"));
        for bad in ["Parity", "a b", "x\";drop", "", "9a"] {
            assert!(!is_plain_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn options_keep_the_urls_own_and_add_ours() {
        let c = PgConfig {
            url: String::new(),
            schema: Some("t_1".into()),
            pool_size: 1,
            ..PgConfig::default()
        };
        assert_eq!(
            c.session_options(Some("-c a=b"), "n1"),
            "-c a=b -c TimeZone=UTC -c extra_float_digits=1 -c search_path=t_1 -c chanbind.origin=n1"
        );
        assert!(c.check().is_ok());
        let bad = PgConfig {
            schema: Some("x; drop".into()),
            ..c
        };
        assert_eq!(bad.check().unwrap_err().kind(), PgErrorKind::Config);
        assert!(drop_schema_sql(None).is_err());
    }
}
