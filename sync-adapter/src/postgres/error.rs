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

/// The store error for a failed op. `stream_of` names the stream bound to a table, so a
/// refused delete can say which stream still refers to the row. The detail is logged; what
/// the client sees is only what [`StoreError::to_api`] lets through.
pub(crate) fn classify(
    op: &StoreOp,
    failure: &Failure,
    stream_of: impl Fn(&str) -> Option<String>,
) -> StoreError {
    let error = match failure {
        Failure::Pool(_) => StoreError::Unavailable("no database connection".into()),
        Failure::Db(e) => match e.as_db_error() {
            Some(db) => {
                let referrer = db.table().and_then(&stream_of);
                sql::classify_op_error(op, db.code().code(), db.constraint(), referrer.as_deref())
            }
            None if is_connection_loss(e) => StoreError::Unavailable("connection lost".into()),
            None => StoreError::Internal("driver error".into()),
        },
    };
    match &error {
        StoreError::Conflict { .. } => {
            tracing::debug!(stream = op.binding().stream(), error = %failure, "postgres refused a write");
        }
        _ => {
            tracing::warn!(stream = op.binding().stream(), error = %failure, "postgres store op failed")
        }
    }
    error
}
