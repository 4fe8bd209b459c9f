//! The store interface and the embedded in-memory store.
//!
//! The engine describes database work as a [`StoreOp`]; a [`Store`] performs it. The
//! in-memory store lives here; the PostgreSQL stores live in the adapters (tokio-postgres in
//! the async one), and run the SQL that [`crate::sql`] builds from the same op, so every store
//! answers every op the same way.

mod blocking;
mod memory;
mod memory_transaction;
mod op;
mod ping;
mod schema;
mod status;
mod transaction;
mod upsert;

pub use blocking::run_blocking;
pub use memory::MemoryStore;
pub use op::{PerValue, Referrer, StoreOp, StoreOutput, Upsert, Upserted};
pub use ping::{PingError, PingFuture, PING_TIMEOUT};
pub use schema::{Mismatch, SchemaError};
pub use status::{PoolStatus, UsageFuture};
pub use transaction::{BeginFuture, EndFuture, Transaction};

use std::future::Future;
use std::pin::Pin;

/// What a delete's `set null` or `cascade` rule did to one referring row, given the row as it
/// was: both stores report cascades through this, so they report them alike.
pub fn cascade_change(
    referrer: &Referrer,
    old: crate::value::Row,
) -> Result<crate::change::Change, StoreError> {
    use crate::binding::OnDelete;
    use crate::change::{Change, ChangeKind};
    let pk = referrer
        .binding
        .key_of(&old)
        .ok_or_else(|| StoreError::Internal("referring row without a primary key".into()))?;
    let (kind, new) = match referrer.rule {
        OnDelete::SetNull => {
            let mut new = old.clone();
            new.insert(referrer.field.clone(), serde_json::Value::Null);
            (ChangeKind::Updated, Some(new))
        }
        OnDelete::Cascade | OnDelete::Restrict => (ChangeKind::Deleted, None),
    };
    Ok(Change {
        stream: referrer.binding.stream().to_owned(),
        pk,
        kind,
        old: Some(old),
        new,
        cascaded: Vec::new(),
    })
}

/// A boxed future of a store's answer.
pub type StoreFuture<'a> =
    Pin<Box<dyn Future<Output = Result<StoreOutput, StoreError>> + Send + 'a>>;

/// A boxed future of a store's schema check.
pub type SchemaFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SchemaError>> + Send + 'a>>;

/// Somewhere rows live.
pub trait Store: Send + Sync + 'static {
    /// Performs one op atomically.
    fn execute(&self, op: StoreOp) -> StoreFuture<'_>;

    /// A short name for logs and the demo's banner (`memory`, `postgres`).
    fn kind(&self) -> &'static str;

    /// Whether [`execute`](Self::execute)'s future blocks the thread that polls it (a store on
    /// the blocking `postgres` crate). The engine then polls its background reads on a
    /// blocking thread, not on an async worker. A request's op is polled where the request
    /// runs, a tokio worker on the async adapter, so such a store must also put its work
    /// through [`run_blocking`], which lets it block there.
    fn is_blocking(&self) -> bool {
        false
    }

    /// Checks that the store can serve `registry`: for a database, that every bound table
    /// exists and has, for every field, a column of a compatible type and nullability.
    /// [`Engine::start`](crate::Engine::start) calls it and does not start on an error, so a
    /// binding that does not fit its table fails at start, naming `table.column`, rather
    /// than at the first request. The default checks nothing: the in-memory store holds
    /// whatever it is given.
    fn check_schema<'a>(&'a self, registry: &'a crate::binding::Registry) -> SchemaFuture<'a> {
        let _ = registry;
        Box::pin(async { Ok(()) })
    }

    /// Opens a transaction whose ops all apply or none does: how a batch runs
    /// (docs/protocol.md section 2, "Batches"). It takes the store's `Arc` so that the
    /// transaction owns what it needs and may be handed on (a wrapper hook's `Next` runs a
    /// step later). The default refuses, so a store without transactions answers batches
    /// with `internal`; the in-memory store and both PostgreSQL stores have them.
    fn begin(self: std::sync::Arc<Self>) -> BeginFuture {
        transaction::unsupported()
    }

    /// Checks that the store answers, for `/readyz` (docs/protocol.md section 6, "Health"):
    /// a database runs `SELECT 1`, within [`PING_TIMEOUT`] in all, the wait for a pooled
    /// connection included, so a saturated pool answers [`PingError::Busy`] instead of
    /// queueing the probe. The engine runs at most one probe at a time and reuses its answer
    /// for a moment, however many probes arrive. The default answers at once: the in-memory
    /// store is always there.
    fn ping(&self) -> PingFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    /// How many of the store's pooled connections are in use and how many callers wait for
    /// one: the `chanbind_store_pool_*` gauges, read at each scrape. `None` (the default)
    /// for a store without a pool.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    /// How full the database's notification queue is, from 0 to 1 (PostgreSQL's
    /// `pg_notification_queue_usage()`): the `chanbind_pg_notification_queue_usage` gauge,
    /// sampled off the request path. `Ok(None)` (the default) for a store that has none.
    fn notification_queue_usage(&self) -> UsageFuture<'_> {
        Box::pin(async { Ok(None) })
    }
}

/// Why a store op failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique or foreign key constraint refused the write.
    #[error("conflict on {field:?}: {message}")]
    Conflict {
        /// The field the constraint is on, when known.
        field: Option<String>,
        /// What to tell the client.
        message: String,
    },
    /// The database refused the values themselves: a `CHECK` constraint chanbind could not
    /// check beforehand (a table it did not create may have any).
    #[error("invalid {field:?}: {message}")]
    Invalid {
        /// The field the constraint is on, when known.
        field: Option<String>,
        /// What to tell the client.
        message: String,
    },
    /// The database cannot be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the text is for the log, never for the client.
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    /// The error the client sees. Internal details stay in the log.
    pub fn to_api(&self) -> crate::protocol::ApiError {
        use crate::protocol::{ApiError, ErrorCode};
        match self {
            StoreError::Conflict { field, message } => {
                let mut e = ApiError::new(ErrorCode::Conflict, message.clone());
                if let Some(field) = field {
                    e.fields.insert(field.clone(), vec![message.clone()]);
                }
                e
            }
            StoreError::Invalid {
                field: Some(field),
                message,
            } => {
                let mut fields = std::collections::BTreeMap::new();
                fields.insert(field.clone(), vec![message.clone()]);
                ApiError::invalid(fields)
            }
            StoreError::Invalid {
                field: None,
                message,
            } => ApiError::new(ErrorCode::Invalid, message.clone()),
            StoreError::Unavailable(_) => ApiError::new(
                ErrorCode::Unavailable,
                "the database is unavailable; try again",
            ),
            StoreError::Internal(_) => ApiError::internal(),
        }
    }
}
