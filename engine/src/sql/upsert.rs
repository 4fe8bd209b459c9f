//! The statements of [`StoreOp::Upsert`](crate::store::StoreOp::Upsert) and what they return.
//!
//! Two statements in one transaction: the first reads and locks the row that holds the value
//! now (its image before the write, and the key the engine compares with the row it holds);
//! the second is `INSERT ... ON CONFLICT (<column>) DO UPDATE ... WHERE <the held row, inside
//! the scope>`, or `DO NOTHING` when the writer may not update, or a plain `UPDATE` when it
//! may not create. It returns the written row and whether it was inserted (`xmax = 0`).

use super::decode::row;
use super::expr::{column, ident, lateral_row, row_json, table, where_clause, Params, T};
use super::plan::{key_column, key_param, write_columns};
use super::{columns, ResultRows, Statement};
use crate::binding::{ModelBinding, PK};
use crate::change::{Change, ChangeKind};
use crate::store::{StoreError, StoreOutput, Upsert, Upserted};
use crate::value::Row;

/// The two statements.
pub(super) fn statements(op: &Upsert) -> Vec<Statement> {
    vec![existing(op), write(op)]
}

/// The column the value is in, and its `= $n` condition over `"T"`.
fn holds(op: &Upsert, params: &mut Params) -> (String, String) {
    let binding = &op.binding;
    let (name, kind) = match binding.get(&op.target) {
        Some(field) => (field.column_name().to_owned(), field.kind().clone()),
        None => (op.target.clone(), binding.key_field().kind().clone()),
    };
    let cond = format!("{} = {}", column(T, &name), params.typed(&kind, &op.value));
    (name, cond)
}

/// `"T"."<key>" = <held key> AND <scope>`, or `FALSE` when no row may be updated.
fn held_in_scope(op: &Upsert, params: &mut Params) -> String {
    let binding = &op.binding;
    let Some(pk) = op.holding.as_ref().filter(|_| op.update.is_some()) else {
        return "FALSE".to_owned();
    };
    let key = format!(
        "{} = {}",
        column(T, key_column(binding)),
        key_param(binding, pk, params)
    );
    if op.scope.is_everything() {
        key
    } else {
        let scope = columns::filter(binding, &op.scope);
        format!("{key} AND {}", where_clause(&scope, T, params))
    }
}

/// The row holding the value, locked.
fn existing(op: &Upsert) -> Statement {
    let mut params = Params::default();
    let (_, cond) = holds(op, &mut params);
    let binding = &op.binding;
    Statement {
        text: format!(
            "SELECT row_to_json(\"R\")::text FROM {} AS \"{T}\" {} WHERE {cond} FOR UPDATE OF \"{T}\"",
            table(binding),
            lateral_row(binding, T),
        ),
        params: params.into_values(),
    }
}

/// `SET` of the update's columns (the key never changes); the key itself when there are none,
/// so the row is still touched and returned.
fn sets(binding: &ModelBinding, values: &Row, params: &mut Params) -> String {
    let mut sets: Vec<String> = write_columns(binding, values)
        .filter(|(f, _)| f.name() != PK)
        .map(|(f, v)| format!("{} = {}", ident(f.column_name()), params.typed(f.kind(), v)))
        .collect();
    if sets.is_empty() {
        let key = key_column(binding);
        sets.push(format!("{} = {}", ident(key), column(T, key)));
    }
    sets.join(", ")
}

fn write(op: &Upsert) -> Statement {
    let binding = &op.binding;
    let mut params = Params::default();
    let returning = format!(
        "RETURNING {}, (\"{T}\".xmax = 0)::text",
        row_json(binding, T)
    );
    let empty = Row::new();
    let text = match &op.insert {
        Some(values) => {
            let (names, exprs): (Vec<String>, Vec<String>) = write_columns(binding, values)
                .map(|(f, v)| (ident(f.column_name()), params.typed(f.kind(), v)))
                .unzip();
            let (column_name, _) = holds(op, &mut Params::default());
            let on_conflict = match &op.update {
                Some(update) if op.holding.is_some() => {
                    let sets = sets(binding, update, &mut params);
                    let cond = held_in_scope(op, &mut params);
                    format!("DO UPDATE SET {sets} WHERE {cond}")
                }
                _ => "DO NOTHING".to_owned(),
            };
            format!(
                "INSERT INTO {} AS \"{T}\" ({}) VALUES ({}) ON CONFLICT ({}) {on_conflict} {returning}",
                table(binding),
                names.join(", "),
                exprs.join(", "),
                ident(&column_name),
            )
        }
        None => {
            let sets = sets(binding, op.update.as_ref().unwrap_or(&empty), &mut params);
            let (_, cond) = holds(op, &mut params);
            let held = held_in_scope(op, &mut params);
            format!(
                "UPDATE {} AS \"{T}\" SET {sets} WHERE {cond} AND {held} {returning}",
                table(binding)
            )
        }
    };
    Statement {
        text,
        params: params.into_values(),
    }
}

/// What the two statements returned.
pub(super) fn decode(op: &Upsert, results: Vec<ResultRows>) -> Result<StoreOutput, StoreError> {
    let binding = &op.binding;
    let [found, written]: [ResultRows; 2] = results
        .try_into()
        .map_err(|_| bad("an upsert has two results"))?;
    let old = match found.as_slice() {
        [] => None,
        [cols] => Some(row(binding, cell(cols, 0)?)?),
        _ => return Err(bad("more than one row holds a unique value")),
    };
    let existing = old.as_ref().and_then(|r| binding.key_of(r));
    let change = match written.as_slice() {
        [] => None,
        [cols] => {
            let new = row(binding, cell(cols, 0)?)?;
            let pk = binding
                .key_of(&new)
                .ok_or_else(|| bad("row without a primary key"))?;
            let (kind, old) = match cell(cols, 1)? {
                "true" => (ChangeKind::Created, None),
                // Another writer's row, created after the first statement looked, has no
                // image here; an update without one is pushed as one that may change anything.
                _ => (
                    ChangeKind::Updated,
                    old.filter(|_| existing.as_ref() == Some(&pk)),
                ),
            };
            Some(Change {
                stream: binding.stream().to_owned(),
                pk,
                kind,
                old,
                new: Some(new),
                cascaded: Vec::new(),
            })
        }
        _ => return Err(bad("an upsert wrote more than one row")),
    };
    Ok(StoreOutput::Upserted(Upserted { existing, change }))
}

fn cell(cols: &[Option<String>], i: usize) -> Result<&str, StoreError> {
    cols.get(i)
        .and_then(|c| c.as_deref())
        .ok_or_else(|| bad("missing column"))
}

fn bad(why: &str) -> StoreError {
    StoreError::Internal(format!("unexpected statement result: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::filter::Filter;
    use serde_json::json;
    use std::sync::Arc;

    fn users() -> Arc<ModelBinding> {
        Arc::new(
            ModelBinding::new("auth_user")
                .field(Field::string("username").unique())
                .field(Field::string("email")),
        )
    }

    fn op(insert: bool, update: bool, holding: Option<i64>) -> Upsert {
        let values = json!({"username": "ann", "email": "a@x"})
            .as_object()
            .cloned()
            .unwrap();
        Upsert {
            binding: users(),
            target: "username".into(),
            value: json!("ann"),
            insert: insert.then(|| values.clone()),
            update: update.then(|| values.clone()),
            scope: Filter::everything(),
            holding: holding.map(Into::into),
        }
    }

    #[test]
    fn the_write_is_one_insert_on_conflict_or_an_update() {
        let s = statements(&op(true, true, Some(4)));
        assert!(s[0]
            .text
            .ends_with("WHERE \"T\".\"username\" = $1::text FOR UPDATE OF \"T\""));
        assert!(
            s[1].text.starts_with(
                "INSERT INTO \"auth_user\" AS \"T\" (\"username\", \"email\") VALUES ($1::text, $2::text) \
                 ON CONFLICT (\"username\") DO UPDATE SET \"username\" = $3::text, \"email\" = $4::text \
                 WHERE \"T\".\"id\" = $5::text::bigint RETURNING"
            ),
            "{}",
            s[1].text
        );
        assert!(s[1].text.ends_with("(\"T\".xmax = 0)::text"));
        let s = statements(&op(true, true, None));
        assert!(s[1]
            .text
            .contains("ON CONFLICT (\"username\") DO NOTHING RETURNING"));
        let s = statements(&op(false, true, Some(4)));
        assert!(s[1].text.starts_with(
            "UPDATE \"auth_user\" AS \"T\" SET \"username\" = $1::text, \"email\" = $2::text \
             WHERE \"T\".\"username\" = $3::text AND \"T\".\"id\" = $4::text::bigint RETURNING"
        ));
    }

    #[test]
    fn results_say_what_happened() {
        let o = op(true, true, Some(4));
        let row = |id: i64| {
            Some(format!(
                r#"{{"id": {id}, "username": "ann", "email": "a@x"}}"#
            ))
        };
        let out = decode(
            &o,
            vec![vec![vec![row(4)]], vec![vec![row(4), Some("false".into())]]],
        );
        let Ok(StoreOutput::Upserted(Upserted {
            existing: Some(existing),
            change: Some(change),
        })) = out
        else {
            panic!("an update: {out:?}")
        };
        assert_eq!((existing, change.kind), (4.into(), ChangeKind::Updated));
        assert!(change.old.is_some());
        let out = decode(&o, vec![vec![], vec![vec![row(5), Some("true".into())]]]).unwrap();
        let StoreOutput::Upserted(Upserted {
            existing: None,
            change: Some(change),
        }) = out
        else {
            panic!("a create")
        };
        assert_eq!(change.kind, ChangeKind::Created);
        assert!(decode(&o, vec![vec![]]).is_err());
    }
}
