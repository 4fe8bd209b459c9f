//! Evaluating a filter against a row in memory, with the semantics of the SQL it compiles to.

use std::cmp::Ordering;

use serde_json::Value;

use super::path::Hop;
use super::{Condition, Filter, Lookup, Operand};
use crate::binding::ModelBinding;
use crate::key::Key;
use crate::value::{compare, fold_case, Row};

/// Finds rows by key, so relation paths can be followed in memory.
pub trait Resolve {
    /// The row of `binding` whose primary key is `key`, if there is one.
    fn row(&self, binding: &ModelBinding, key: &Key) -> Option<&Row>;
}

/// Knows no rows: every relation path reads as null. For filters without paths.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRows;

impl Resolve for NoRows {
    fn row(&self, _: &ModelBinding, _: &Key) -> Option<&Row> {
        None
    }
}

static NULL: Value = Value::Null;

/// The value at the end of `path` from `row`: null when a foreign key is null, names no row,
/// or names one outside the hop's scope; as the compiled scalar subqueries read it.
pub(super) fn value_at<'r>(
    path: &[Hop],
    field: &str,
    row: &'r Row,
    resolve: &'r dyn Resolve,
) -> &'r Value {
    let mut row = row;
    for hop in path {
        let next = row
            .get(&hop.field)
            .and_then(Key::from_json)
            .and_then(|key| resolve.row(&hop.target, &key));
        match next {
            Some(next) if hop.scope.matches_with(next, resolve) => row = next,
            _ => return &NULL,
        }
    }
    row.get(field).unwrap_or(&NULL)
}

impl Filter {
    /// Whether `row` satisfies the filter, reading relation paths as null. Agrees with the
    /// compiled SQL on every row when the filter [has no paths](Self::has_paths).
    pub fn matches(&self, row: &Row) -> bool {
        self.matches_with(row, &NoRows)
    }

    /// Whether `row` satisfies the filter, following relation paths to the rows `resolve`
    /// finds. Agrees with the compiled SQL run over the same rows.
    pub fn matches_with(&self, row: &Row, resolve: &dyn Resolve) -> bool {
        match self {
            Filter::All(parts) => parts.iter().all(|p| p.matches_with(row, resolve)),
            Filter::Any(parts) => parts.iter().any(|p| p.matches_with(row, resolve)),
            // The child is two-valued here already (unknown is false), so this is the
            // complement the compiled `NOT COALESCE(.., FALSE)` computes.
            Filter::Not(part) => !part.matches_with(row, resolve),
            Filter::Cond(c) => c.matches_with(row, resolve),
        }
    }
}

impl Condition {
    /// Whether `row` satisfies this one lookup, reading a relation path as null.
    pub fn matches(&self, row: &Row) -> bool {
        self.matches_with(row, &NoRows)
    }

    /// Whether `row` satisfies this one lookup, following its path through `resolve`.
    pub fn matches_with(&self, row: &Row, resolve: &dyn Resolve) -> bool {
        let value = value_at(&self.path, &self.field, row, resolve);
        match (&self.lookup, &self.operand) {
            (Lookup::IsNull, Operand::Flag(flag)) => value.is_null() == *flag,
            // IS DISTINCT FROM: null differs from every value.
            (Lookup::Ne, Operand::Value(v)) => {
                value.is_null() || self.cmp(value, v) != Ordering::Equal
            }
            // Every other comparison with a null column is unknown, so false.
            _ if value.is_null() => false,
            (Lookup::Exact, Operand::Value(v)) => self.cmp(value, v) == Ordering::Equal,
            (Lookup::Gt, Operand::Value(v)) => self.cmp(value, v) == Ordering::Greater,
            (Lookup::Gte, Operand::Value(v)) => self.cmp(value, v) != Ordering::Less,
            (Lookup::Lt, Operand::Value(v)) => self.cmp(value, v) == Ordering::Less,
            (Lookup::Lte, Operand::Value(v)) => self.cmp(value, v) != Ordering::Greater,
            (Lookup::In, Operand::List(list)) => {
                list.iter().any(|v| self.cmp(value, v) == Ordering::Equal)
            }
            (lookup, Operand::Value(Value::String(needle))) => {
                let Value::String(hay) = value else {
                    return false;
                };
                match lookup {
                    Lookup::IExact => fold_case(hay) == fold_case(needle),
                    Lookup::Contains => hay.contains(needle.as_str()),
                    Lookup::IContains => fold_case(hay).contains(&fold_case(needle)),
                    Lookup::StartsWith => hay.starts_with(needle.as_str()),
                    Lookup::IStartsWith => fold_case(hay).starts_with(&fold_case(needle)),
                    Lookup::EndsWith => hay.ends_with(needle.as_str()),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    fn cmp(&self, a: &Value, b: &Value) -> Ordering {
        compare(&self.kind, a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_filter;
    use crate::binding::{Field, ModelBinding};
    use serde_json::{json, Value};

    fn check(filters: Value, row: Value) -> bool {
        let b = ModelBinding::new("t_t")
            .field(Field::string("name"))
            .field(Field::integer("n"))
            .field(Field::datetime("at"))
            .search(["name"]);
        let f = parse_filter(&b, filters.as_object().unwrap(), None, 100).unwrap();
        f.matches(row.as_object().unwrap())
    }

    #[test]
    fn lookups_follow_sql_semantics() {
        let row = json!({"id": 1, "name": "Alice", "n": 5, "at": null});
        assert!(check(json!({"name": "Alice"}), row.clone()));
        assert!(check(json!({"name__iexact": "aLICE"}), row.clone()));
        assert!(check(json!({"name__icontains": "LIC"}), row.clone()));
        assert!(!check(json!({"name__contains": "LIC"}), row.clone()));
        assert!(check(
            json!({"name__startswith": "Al", "name__endswith": "ce"}),
            row.clone()
        ));
        assert!(check(json!({"n__gte": 5, "n__lt": 6}), row.clone()));
        assert!(check(json!({"n__in": [1, 5]}), row.clone()));
        assert!(check(json!({"at__isnull": true}), row.clone()));
        assert!(check(json!({"at": null}), row.clone()));
        // A comparison with null is unknown, hence false; `ne` treats null as different.
        assert!(!check(
            json!({"at__gt": "2020-01-01T00:00:00Z"}),
            row.clone()
        ));
        assert!(check(
            json!({"at__ne": "2020-01-01T00:00:00Z"}),
            row.clone()
        ));
        assert!(!check(json!({"n__ne": 5}), row.clone()));
        assert!(!check(json!({"n__in": []}), row.clone()));
    }

    #[test]
    fn case_folding_is_ascii_only_like_postgres_c_collation() {
        let row = json!({"id": 1, "name": "ÉCOLE", "n": 1});
        assert!(!check(json!({"name__iexact": "école"}), row.clone()));
        assert!(check(json!({"name__iexact": "ÉcolE"}), row));
    }
}
