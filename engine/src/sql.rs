//! SQL for PostgreSQL, built from the same [`StoreOp`]s the in-memory store answers.
//!
//! This module does no I/O: [`plan`] turns an op into parameterized statements, an adapter runs
//! them in one transaction with whichever driver it has (tokio-postgres, `postgres`), and
//! [`decode`] turns the text columns they return into the op's [`StoreOutput`]. Both adapters
//! run the same text, so they cannot drift apart. [`introspect`] does the same for the
//! catalog: the statement that describes an existing table, the bindings made from it, and
//! the check of declared bindings that the stores run at start.
//!
//! ```
//! use std::sync::Arc;
//! use chanbind_engine::binding::{Field, ModelBinding};
//! use chanbind_engine::filter::Filter;
//! use chanbind_engine::sql;
//! use chanbind_engine::store::{StoreOp, StoreOutput};
//!
//! let users = Arc::new(ModelBinding::new("auth_user").field(Field::string("username")));
//! let op = StoreOp::Get { binding: users, pk: 7.into(), scope: Filter::everything() };
//! let plan = sql::plan(&op);
//! assert!(plan.read_only);
//! assert_eq!(plan.statements[0].params, [Some("7".to_owned())]);
//!
//! // What the database sent back for that one statement: one row of one text column.
//! let results = vec![vec![vec![Some(r#"{"id": 7, "username": "alice"}"#.to_owned())]]];
//! let StoreOutput::Row(Some(row)) = sql::decode(&op, results).unwrap() else { panic!() };
//! assert_eq!(row["username"], "alice");
//! ```
//!
//! The rules that make PostgreSQL answer byte for byte like [`crate::store::MemoryStore`]:
//!
//! - Identifiers come only from bindings and are always double-quoted; values only travel as
//!   parameters, all of them text (or NULL) cast in the SQL text (`$1::text::bigint`), the way
//!   libpq sends parameters by default. An `__in` list is one parameter, an array in
//!   PostgreSQL's text form (`= ANY($1::text::bigint[])`), so lists of every length share one
//!   prepared statement.
//! - Rows come back as JSON text (`row_to_json`), each field read in its canonical form:
//!   timestamps in UTC with microseconds and `Z`, dates as `YYYY-MM-DD`, decimals as strings,
//!   JSON columns as JSON. Floats travel as text and are parsed exactly.
//! - Filters compile with the semantics of `Filter::matches`: strings compare and sort under
//!   `COLLATE "C"` (byte order), case-insensitive lookups fold ASCII only (`lower` under
//!   `"C"`), `__ne` is `IS DISTINCT FROM`, an empty `__in` is false, and `ORDER BY` keeps
//!   PostgreSQL's default null placement, which `Ordering::compare` follows.
//! - Sessions should run with `TimeZone=UTC` and `extra_float_digits=1` (the default); the read
//!   expressions do not depend on `DateStyle`.

pub mod capture;
pub(crate) mod columns;
mod ddl;
mod decode;
mod error;
pub(crate) mod expr;
pub mod introspect;
mod plan;
mod setup;
mod statements;
mod upsert;

pub use ddl::{create_tables, drop_tables};
pub use error::{
    classify_db_error, classify_failure, classify_op_error, is_connection_gone, DriverFailure,
};
pub use setup::{
    drop_schema_sql, PgConfig, PgError, PgErrorKind, TableStreams, APPLICATION_NAME,
    CONNECT_TIMEOUT, MIGRATE_LOCK, STATEMENT_CACHE_CAPACITY, WAIT_TIMEOUT,
};
pub use statements::StatementCache;

use crate::store::{StoreError, StoreOp, StoreOutput};

/// One SQL statement and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL text, with placeholders `$1`, `$2`, ... each cast from `text`.
    pub text: String,
    /// The parameters in placeholder order: text, or `None` for NULL.
    pub params: Vec<Option<String>>,
}

/// The statements of one op, to run in order inside one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The statements; [`decode`] takes one [`ResultRows`] per statement, in this order.
    pub statements: Vec<Statement>,
    /// The op only reads. Run it `READ ONLY` and `REPEATABLE READ`, so that a search's count
    /// and its rows come from the same snapshot.
    pub read_only: bool,
}

/// The rows one statement returned, each a list of text columns (`None` for NULL).
pub type ResultRows = Vec<Vec<Option<String>>>;

/// The statements that perform `op`.
///
/// - `Get`: one row by key inside the scope.
/// - `Search`: the count, then the window of rows in order.
/// - `Insert`: the keys of `values` that are fields of the binding (the primary key excepted),
///   returning the new row.
/// - `Update`: one statement that locks the row inside the scope and returns its old and new
///   image; with no values it still returns the row as updated.
/// - `Delete`: by key inside the scope, returning the old row.
pub fn plan(op: &StoreOp) -> Plan {
    plan::plan(op)
}

/// Turns the results of [`plan`]'s statements (one [`ResultRows`] per statement) into what
/// the in-memory store would answer: rows as [`crate::value::Row`]s with the binding's fields,
/// and `Changed(None)` when an update or delete found no row.
///
/// Results of an unexpected shape are [`StoreError::Internal`].
pub fn decode(op: &StoreOp, results: Vec<ResultRows>) -> Result<StoreOutput, StoreError> {
    decode::decode(op, results)
}
