//! How driver errors map to store errors, as in the async store: the decisions themselves live
//! in [`chanbind_engine::sql`].

use std::error::Error as _;
use std::fmt;

use chanbind_engine::sql;
use chanbind_engine::store::{StoreError, StoreOp};

/// Why running a plan failed, before it is classified for the op.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection could be had: every pooled one stayed busy for the whole wait (`None`),
    /// or a new one could not be made.
    Pool(Option<postgres::Error>),
    /// The driver or the database refused a statement.
    Db(postgres::Error),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Pool(None) => f.write_str("pool: timed out waiting for a connection"),
            Failure::Pool(Some(e)) => write!(f, "pool: {e}"),
            Failure::Db(e) => write!(f, "{e}"),
        }
    }
}

/// Whether a driver error means the connection is gone (or never came) rather than the
/// statement refused.
pub(crate) fn is_connection_loss(e: &postgres::Error) -> bool {
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
