//! What a store reports when the database's tables do not fit the bindings.

use std::fmt;

/// One way a bound field (or table) differs from the database: where, what the binding
/// declares, what the database has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `table.column`, or the table alone when the table itself is the problem.
    pub place: String,
    /// What the binding declares (`string with max_length 200`).
    pub declared: String,
    /// What the database has (`character varying(100)`, `no such column`).
    pub found: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: declared {}, found {}",
            self.place, self.declared, self.found
        )
    }
}

/// Why a store cannot serve the bindings it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// Bound tables or fields do not match the database; every difference is listed.
    #[error("the bindings do not match the database: {}", list(.0))]
    Mismatch(Vec<Mismatch>),
    /// The schema could not be read (the database is unreachable, or refused the catalog
    /// statement); the text is the cause.
    #[error("cannot read the database schema: {0}")]
    Unavailable(String),
}

fn list(mismatches: &[Mismatch]) -> String {
    let items: Vec<String> = mismatches.iter().map(Mismatch::to_string).collect();
    items.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mismatch_is_named() {
        let e = SchemaError::Mismatch(vec![
            Mismatch {
                place: "todo_task.title".into(),
                declared: "string".into(),
                found: "integer".into(),
            },
            Mismatch {
                place: "todo_tag".into(),
                declared: "a bound table".into(),
                found: "no such table".into(),
            },
        ]);
        assert_eq!(
            e.to_string(),
            "the bindings do not match the database: todo_task.title: declared string, found \
             integer; todo_tag: declared a bound table, found no such table"
        );
    }
}
