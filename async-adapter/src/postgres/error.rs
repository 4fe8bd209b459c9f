//! How driver errors map to store errors (set-up errors are the engine's
//! [`PgError`](chanbind_engine::sql::PgError)).

use std::error::Error as _;
use std::fmt;

use chanbind_engine::sql;
use chanbind_engine::store::{StoreError, StoreOp};

/// Why running a plan failed, before it is classified for the op.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection could be had from the pool.
    Pool(deadpool_postgres::PoolError),
    /// The driver or the database refused a statement.
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Pool(e) => write!(f, "pool: {e}"),
            Failure::Db(e) => write!(f, "{e}"),
        }
    }
}

/// Whether a driver error means the connection is gone rather than the statement refused.
pub(crate) fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || e.source()
            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
}

/// The store error for a failed op: the driver's error in the engine's terms, classified
/// and logged by [`sql::classify_failure`].
pub(crate) fn classify(
    op: &StoreOp,
    failure: &Failure,
    stream_of: impl Fn(&str) -> Option<String>,
) -> StoreError {
    let (db_error, connection_lost) = match failure {
        Failure::Db(e) => (e.as_db_error(), is_connection_loss(e)),
        Failure::Pool(_) => (None, false),
    };
    let driver = sql::DriverFailure {
        no_connection: matches!(failure, Failure::Pool(_)),
        connection_lost,
        sqlstate: db_error.map(|db| db.code().code()),
        constraint: db_error.and_then(|db| db.constraint()),
        table: db_error.and_then(|db| db.table()),
        detail: failure,
    };
    sql::classify_failure(op, driver, stream_of)
}
