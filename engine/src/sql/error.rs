//! What a PostgreSQL error means to the client: the same [`StoreError`] the in-memory store
//! gives for the same refusal.

use super::ddl::constraint_name;
use crate::binding::{FieldKind, ModelBinding, PK};
use crate::key::Key;
use crate::store::{StoreError, StoreOp};

const UNIQUE_VIOLATION: &str = "23505";
const FOREIGN_KEY_VIOLATION: &str = "23503";
const CHECK_VIOLATION: &str = "23514";

/// Classifies an error PostgreSQL raised while writing `binding`'s table.
///
/// - `23505` (unique) and `23503` (foreign key) are [`StoreError::Conflict`], with the field
///   found from the constraint's name when it is the name PostgreSQL chose for one of the
///   binding's fields (`<table>_<column>_key`, `<table>_<column>_fkey`, shortened as
///   PostgreSQL shortens them). A foreign key of the binding itself means the write named a
///   missing row; any other means rows elsewhere still refer to the one being deleted.
/// - `23514` (a `CHECK` constraint) is [`StoreError::Invalid`], on the field whose column
///   the constraint is named after (`<table>_<column>_check`, PostgreSQL's own name for a
///   column's check) when there is one.
/// - Connection failures (`08...`), shutdowns (`57P01` to `57P03`) and `too_many_connections`
///   (`53300`) are [`StoreError::Unavailable`]: the client may retry.
/// - Everything else is [`StoreError::Internal`].
///
/// The text of `Unavailable` and `Internal` names only the SQLSTATE; neither reaches clients.
pub fn classify_db_error(
    sqlstate: &str,
    constraint: Option<&str>,
    binding: &ModelBinding,
) -> StoreError {
    match sqlstate {
        UNIQUE_VIOLATION => {
            let field = constraint
                .and_then(|c| unique_field(binding, c))
                .map(str::to_owned);
            let message = match &field {
                Some(f) => format!("a row with this {f} already exists"),
                None => "a row with these values already exists".to_owned(),
            };
            StoreError::Conflict { field, message }
        }
        FOREIGN_KEY_VIOLATION => match constraint.and_then(|c| foreign_key(binding, c)) {
            Some((field, target)) => StoreError::Conflict {
                message: format!("{target} row does not exist"),
                field: Some(field.to_owned()),
            },
            None => still_referenced(None),
        },
        CHECK_VIOLATION => {
            let field = constraint.and_then(|c| check_field(binding, c));
            StoreError::Invalid {
                message: match field {
                    Some(_) => "refused by the database's check on this field".to_owned(),
                    None => "refused by a check of the database".to_owned(),
                },
                field: field.map(str::to_owned),
            }
        }
        s if is_connection_gone(s) || s == "53300" => {
            StoreError::Unavailable(format!("postgres {s}"))
        }
        s => StoreError::Internal(format!("postgres error {s}")),
    }
}

/// Whether a SQLSTATE says the connection itself is gone: a connection failure (`08...`) or
/// the server shutting down (`57P01` to `57P03`), as opposed to a refused statement.
pub fn is_connection_gone(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03")
}

/// Classifies an error raised by the statements of `op`, with the op's own values in the
/// message where the in-memory store puts them (`auth.User 9 does not exist`).
///
/// `referrer` is the stream whose table holds the foreign key that refused a delete, when the
/// caller knows it (PostgreSQL reports that table, not its stream).
pub fn classify_op_error(
    op: &StoreOp,
    sqlstate: &str,
    constraint: Option<&str>,
    referrer: Option<&str>,
) -> StoreError {
    let binding = op.binding();
    match (op, sqlstate) {
        // A delete is refused by the foreign keys pointing at the row, even when the key is
        // the binding's own (a self-reference).
        (StoreOp::Delete { .. }, FOREIGN_KEY_VIOLATION) => still_referenced(referrer),
        (
            StoreOp::Insert { values, .. } | StoreOp::Update { values, .. },
            FOREIGN_KEY_VIOLATION,
        ) => missing_target(values, sqlstate, constraint, binding),
        // An upsert's values name the same targets whichever way it went.
        (StoreOp::Upsert(upsert), FOREIGN_KEY_VIOLATION) => {
            match upsert.insert.as_ref().or(upsert.update.as_ref()) {
                Some(values) => missing_target(values, sqlstate, constraint, binding),
                None => classify_db_error(sqlstate, constraint, binding),
            }
        }
        _ => classify_db_error(sqlstate, constraint, binding),
    }
}

/// A foreign key of `values` that names no row, as the in-memory store words it.
fn missing_target(
    values: &crate::value::Row,
    sqlstate: &str,
    constraint: Option<&str>,
    binding: &crate::binding::ModelBinding,
) -> StoreError {
    let Some((field, target)) = constraint.and_then(|c| foreign_key(binding, c)) else {
        return classify_db_error(sqlstate, constraint, binding);
    };
    let message = match values.get(field).and_then(Key::from_json) {
        Some(id) => format!("{target} {id} does not exist"),
        None => format!("{target} row does not exist"),
    };
    StoreError::Conflict {
        field: Some(field.to_owned()),
        message,
    }
}

fn still_referenced(referrer: Option<&str>) -> StoreError {
    StoreError::Conflict {
        field: None,
        message: match referrer {
            Some(stream) => format!("{stream} rows still refer to this row"),
            None => "other rows still refer to this row".to_owned(),
        },
    }
}

fn unique_field<'a>(binding: &'a ModelBinding, constraint: &str) -> Option<&'a str> {
    if constraint == constraint_name(binding.table(), None, "pkey") {
        return Some(PK);
    }
    binding
        .fields()
        .iter()
        .find(|f| {
            f.is_unique()
                && constraint == constraint_name(binding.table(), Some(f.column_name()), "key")
        })
        .map(|f| f.name())
}

/// The field whose column names the check constraint `constraint`.
fn check_field<'a>(binding: &'a ModelBinding, constraint: &str) -> Option<&'a str> {
    binding
        .fields()
        .iter()
        .find(|f| constraint == constraint_name(binding.table(), Some(f.column_name()), "check"))
        .map(|f| f.name())
}

/// The foreign key field named by `constraint` and the stream it points into.
fn foreign_key<'a>(binding: &'a ModelBinding, constraint: &str) -> Option<(&'a str, &'a str)> {
    binding.fields().iter().find_map(|f| match f.kind() {
        FieldKind::ForeignKey { stream, .. }
            if constraint == constraint_name(binding.table(), Some(f.column_name()), "fkey") =>
        {
            Some((f.name(), stream.as_str()))
        }
        _ => None,
    })
}

/// What a driver reported about a failed plan, in the terms both PostgreSQL drivers share.
pub struct DriverFailure<'a> {
    /// No connection could be had from the pool.
    pub no_connection: bool,
    /// The connection broke (closed, or an I/O error) rather than the statement being refused.
    pub connection_lost: bool,
    /// The database's SQLSTATE, when the database refused the statement.
    pub sqlstate: Option<&'a str>,
    /// The constraint the database names.
    pub constraint: Option<&'a str>,
    /// The table the database names (for a foreign key, the referring table).
    pub table: Option<&'a str>,
    /// The driver's own text, for the log only.
    pub detail: &'a dyn std::fmt::Display,
}

impl std::fmt::Debug for DriverFailure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverFailure")
            .field("no_connection", &self.no_connection)
            .field("connection_lost", &self.connection_lost)
            .field("sqlstate", &self.sqlstate)
            .field("constraint", &self.constraint)
            .field("table", &self.table)
            .field("detail", &format_args!("{}", self.detail))
            .finish()
    }
}

/// The store error for a failed op, with the same decisions and the same log lines in both
/// stores. `stream_of` names the stream bound to a table, so a refused delete can say which
/// stream still refers to the row. The detail is logged; what the client sees is only what
/// [`StoreError::to_api`] lets through.
pub fn classify_failure(
    op: &StoreOp,
    failure: DriverFailure<'_>,
    stream_of: impl Fn(&str) -> Option<String>,
) -> StoreError {
    let error = match (failure.no_connection, failure.sqlstate) {
        (true, _) => StoreError::Unavailable("no database connection".into()),
        (false, Some(code)) => {
            let referrer = failure.table.and_then(&stream_of);
            classify_op_error(op, code, failure.constraint, referrer.as_deref())
        }
        (false, None) if failure.connection_lost => {
            StoreError::Unavailable("connection lost".into())
        }
        (false, None) => StoreError::Internal("driver error".into()),
    };
    let stream = op.binding().stream();
    match &error {
        StoreError::Conflict { .. } | StoreError::Invalid { .. } => {
            tracing::debug!(stream, error = %failure.detail, "postgres refused a write")
        }
        _ => tracing::warn!(stream, error = %failure.detail, "postgres store op failed"),
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::filter::Filter;
    use serde_json::json;
    use std::sync::Arc;

    fn binding() -> Arc<ModelBinding> {
        Arc::new(
            ModelBinding::new("todo_task")
                .field(Field::string("slug").unique())
                .field(Field::foreign_key("owner_id", "auth.User")),
        )
    }

    fn conflict(field: Option<&str>, message: &str) -> StoreError {
        StoreError::Conflict {
            field: field.map(str::to_owned),
            message: message.to_owned(),
        }
    }

    #[test]
    fn constraints_name_their_fields() {
        let b = binding();
        assert_eq!(
            classify_db_error("23505", Some("todo_task_slug_key"), &b),
            conflict(Some("slug"), "a row with this slug already exists")
        );
        assert_eq!(
            classify_db_error("23505", Some("something_else"), &b),
            conflict(None, "a row with these values already exists")
        );
        let values = json!({"owner_id": 9}).as_object().cloned().unwrap();
        let op = StoreOp::Insert {
            binding: Arc::clone(&b),
            values,
        };
        assert_eq!(
            classify_op_error(&op, "23503", Some("todo_task_owner_id_fkey"), None),
            conflict(Some("owner_id"), "auth.User 9 does not exist")
        );
    }

    #[test]
    fn deletes_are_refused_by_referrers() {
        let op = StoreOp::Delete {
            binding: binding(),
            pk: 1.into(),
            scope: Filter::everything(),
            referrers: Vec::new(),
        };
        assert_eq!(
            classify_op_error(
                &op,
                "23503",
                Some("todo_note_task_id_fkey"),
                Some("todo.Note")
            ),
            conflict(None, "todo.Note rows still refer to this row")
        );
        assert_eq!(
            classify_op_error(&op, "23503", Some("todo_task_owner_id_fkey"), None),
            conflict(None, "other rows still refer to this row")
        );
    }

    #[test]
    fn outages_and_the_rest() {
        let b = binding();
        for code in ["08006", "08001", "57P01", "57P03"] {
            assert!(
                matches!(
                    classify_db_error(code, None, &b),
                    StoreError::Unavailable(_)
                ),
                "{code}"
            );
        }
        assert!(matches!(
            classify_db_error("42P01", None, &b),
            StoreError::Internal(_)
        ));
        assert!(matches!(
            classify_db_error("22001", None, &b),
            StoreError::Internal(_)
        ));
    }

    #[test]
    fn checks_refuse_the_values_on_their_field() {
        let b = binding();
        let invalid = |field: Option<&str>, message: &str| StoreError::Invalid {
            field: field.map(str::to_owned),
            message: message.to_owned(),
        };
        assert_eq!(
            classify_db_error("23514", Some("todo_task_slug_check"), &b),
            invalid(
                Some("slug"),
                "refused by the database's check on this field"
            )
        );
        assert_eq!(
            classify_db_error("23514", Some("positive_total"), &b),
            invalid(None, "refused by a check of the database")
        );
        let api = classify_db_error("23514", Some("todo_task_slug_check"), &b).to_api();
        assert_eq!(
            api.fields["slug"],
            ["refused by the database's check on this field"]
        );
    }
}
