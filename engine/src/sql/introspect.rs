//! Existing tables as PostgreSQL describes them: the catalog statement, its decoded
//! [`TableDescription`], the check of a declared binding against it, and the bindings made
//! from it.
//!
//! Like the rest of [`crate::sql`], nothing here does I/O: [`describe`] is a statement an
//! adapter runs (any transaction, read-only is enough), and [`decode_description`] reads the
//! one text column it returns. One round trip describes one table, columns, keys, unique
//! indexes and foreign keys included.
//!
//! ```
//! use chanbind_engine::sql::introspect::{self, TableName};
//!
//! let statement = introspect::describe(&TableName::parse("sales.Order").unwrap());
//! assert_eq!(statement.params, [Some("sales".to_owned()), Some("Order".to_owned())]);
//! // No row: no such table.
//! assert_eq!(introspect::decode_description(vec![]).unwrap(), None);
//! ```

mod bind;
mod catalog;
mod check;
mod column_type;
mod description;
mod name;

pub use check::check_binding;
pub use description::{
    ColumnDescription, ForeignKeyDescription, TableDescription, TypeDescription,
};
pub use name::{BadTableName, TableName};

use super::{ResultRows, Statement};
use crate::binding::{ModelBinding, Registry, RegistryError};
use crate::store::SchemaError;

/// Why tables could not be introspected or bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectError {
    /// The name given is not a table name.
    #[error(transparent)]
    BadName(#[from] BadTableName),
    /// No table of that name is visible.
    #[error("table {0} does not exist (or is not on the search_path)")]
    NoSuchTable(String),
    /// The name is a view, a sequence or another relation that is not a table.
    #[error("{table} is not a table (relkind {relkind:?})")]
    NotATable {
        /// The relation.
        table: String,
        /// Its `pg_class.relkind`.
        relkind: String,
    },
    /// The table has no primary key, so rows cannot be addressed.
    #[error("{0} has no primary key")]
    NoPrimaryKey(String),
    /// The primary key has more than one column.
    #[error("{table} has a primary key of several columns ({columns}); only single-column keys are bound")]
    CompositeKey {
        /// The table.
        table: String,
        /// Its key columns, comma-separated.
        columns: String,
    },
    /// A column chanbind has no field kind for cannot be left out either: it is the key, or
    /// `NOT NULL` without a default, so no create could succeed without it.
    #[error("{place} is of type {sql_type}, which chanbind cannot bind, and {why}")]
    UnsupportedColumn {
        /// `table.column`.
        place: String,
        /// The type as PostgreSQL writes it.
        sql_type: String,
        /// Why it cannot be skipped.
        why: &'static str,
    },
    /// The bindings made from the tables were refused (two tables with one stream name).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The catalog statement returned something else than its one JSON document.
    #[error("unexpected catalog result: {0}")]
    Malformed(String),
}

/// The statement that describes `table`: one row of one text column, or no row when the
/// table does not exist. Decode it with [`decode_description`].
pub fn describe(table: &TableName) -> Statement {
    Statement {
        text: catalog::DESCRIBE.to_owned(),
        params: vec![
            table.schema().map(str::to_owned),
            Some(table.name().to_owned()),
        ],
    }
}

/// Decodes what [`describe`]'s statement returned: `None` when no table has that name.
pub fn decode_description(rows: ResultRows) -> Result<Option<TableDescription>, IntrospectError> {
    let mut rows = rows.into_iter();
    let Some(row) = rows.next() else {
        return Ok(None);
    };
    if rows.next().is_some() {
        return Err(IntrospectError::Malformed("more than one row".into()));
    }
    let Some(Some(json)) = row.into_iter().next() else {
        return Err(IntrospectError::Malformed("no JSON column".into()));
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| IntrospectError::Malformed(e.to_string()))
}

/// The table a binding names, as [`describe`] takes it.
pub fn binding_table(binding: &ModelBinding) -> TableName {
    // The registry only accepts names PostgreSQL can hold, which is all a table name checks.
    TableName::unchecked(binding.schema_name(), binding.table())
}

/// The statements [`check_registry`] needs: one [`describe`] per model binding, in the
/// registry's order.
pub fn check_statements(registry: &Registry) -> Vec<Statement> {
    registry
        .models()
        .map(|b| describe(&binding_table(b)))
        .collect()
}

/// Checks every model binding of `registry` against its table, given the results of
/// [`check_statements`] in order: every difference of every binding ([`check_binding`]),
/// or `Ok`.
pub fn check_registry(registry: &Registry, results: Vec<ResultRows>) -> Result<(), SchemaError> {
    let mut mismatches = Vec::new();
    let mut results = results.into_iter();
    for binding in registry.models() {
        let rows = results
            .next()
            .ok_or_else(|| SchemaError::Unavailable("fewer results than tables".into()))?;
        let table =
            decode_description(rows).map_err(|e| SchemaError::Unavailable(e.to_string()))?;
        mismatches.extend(check_binding(binding, table.as_ref()));
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(SchemaError::Mismatch(mismatches))
    }
}

/// Parses each of `tables` ([`TableName::parse`]).
pub fn parse_names(tables: &[&str]) -> Result<Vec<TableName>, IntrospectError> {
    tables
        .iter()
        .map(|t| TableName::parse(t).map_err(IntrospectError::from))
        .collect()
}

/// Binds the tables `names` named, given what their [`describe`] statements returned, in
/// order. Each becomes a [`ModelBinding`] the application may refine further:
///
/// - the single-column primary key is the key; a table without one, or with a key of
///   several columns, is refused;
/// - every other column is a field of the kind its type maps to: `text`; `varchar(n)` and
///   `char(n)` as strings with `max_length`; `smallint` and `integer` as integers with the
///   type's bounds, `bigint`; `real` (with its bounds) and `double precision` as floats;
///   `numeric(p,s)` as a decimal of `s` places below `10^(p-s)`; `boolean`, `date`, `uuid`;
///   `timestamptz` as a datetime and `timestamp` as a local datetime; `jsonb`, and `json`
///   (not filterable: it has no equality); an enum as [`FieldKind::Enum`] with its labels
///   as `choices`; a one-dimensional array of any of these. A domain counts as its type.
/// - A column of another type (`bytea`, `interval`, a range...) is left out with a warning in
///   the log, unless it is `NOT NULL` without a default: then no create could succeed, and
///   the table is refused naming the column.
/// - `NOT NULL` without a default is required; a default, identity or generated column
///   fills itself in; generated and `GENERATED ALWAYS` identity columns are read-only; a
///   single-column unique index makes the field unique; a column comment is the help text.
/// - A single-column foreign key to the key of another of the tables is a foreign key field
///   with its `ON DELETE` rule; to a table not among them, a plain field of the column's type.
///
/// [`FieldKind::Enum`]: crate::binding::FieldKind::Enum
pub fn bind_described(
    names: &[TableName],
    results: Vec<ResultRows>,
) -> Result<Vec<ModelBinding>, IntrospectError> {
    let mut results = results.into_iter();
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let rows = results
            .next()
            .ok_or_else(|| IntrospectError::Malformed("fewer results than tables".into()))?;
        let table = decode_description(rows)?
            .ok_or_else(|| IntrospectError::NoSuchTable(name.to_string()))?;
        tables.push(table);
    }
    bind::bind(names, &tables)
}
