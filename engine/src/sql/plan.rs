//! The statements of each op.

use crate::key::Key;
use serde_json::Value;

use super::expr::{column, ident, lateral_row, order_by, row_json, table, where_clause, Params, T};
use super::{columns, Plan, Statement};
use crate::binding::{ModelBinding, PK};
use crate::filter::{Filter, Ordering};
use crate::store::{PerValue, Referrer, StoreOp};
use crate::value::Row;

/// The alias of the locked pre-update row inside an `UPDATE`.
const OLD: &str = "O";
/// The alias of the table scanned to find the pre-update row.
const CUR: &str = "C";

/// Builds the statements of `op`.
pub(crate) fn plan(op: &StoreOp) -> Plan {
    match op {
        StoreOp::Get { binding, pk, scope } => Plan {
            statements: vec![get(binding, pk, scope)],
            read_only: true,
        },
        StoreOp::Search {
            binding,
            filter,
            order,
            offset,
            limit,
        } => Plan {
            statements: vec![
                count(binding, filter),
                page(binding, filter, order, *offset, *limit),
            ],
            read_only: true,
        },
        StoreOp::Related {
            binding,
            filter,
            order,
            per,
        } => Plan {
            statements: vec![related(binding, filter, order, per.as_ref())],
            read_only: true,
        },
        StoreOp::Insert { binding, values } => Plan {
            statements: vec![insert(binding, values)],
            read_only: false,
        },
        StoreOp::Update {
            binding,
            pk,
            values,
            scope,
        } => Plan {
            statements: vec![update(binding, pk, values, scope)],
            read_only: false,
        },
        StoreOp::Upsert(upsert) => Plan {
            statements: super::upsert::statements(upsert),
            read_only: false,
        },
        StoreOp::Matches {
            binding,
            filter,
            rows,
        } => Plan {
            statements: rows
                .iter()
                .map(|row| matches(binding, filter, row))
                .collect(),
            read_only: true,
        },
        StoreOp::Delete {
            binding,
            pk,
            scope,
            referrers,
        } => Plan {
            // Read (and lock) the referring rows first: the foreign keys' own actions then
            // null or delete them, and the engine publishes what they became.
            statements: referrers
                .iter()
                .map(|r| referring_rows(r, binding, pk))
                .chain([delete(binding, pk, scope)])
                .collect(),
            read_only: false,
        },
    }
}

/// `"T"."<key column>" = $n AND <scope>`, or the key alone when the scope is everything.
fn pk_and_scope(
    binding: &ModelBinding,
    pk: &Key,
    scope: &Filter,
    alias: &str,
    params: &mut Params,
) -> String {
    let key = format!(
        "{} = {}",
        column(alias, key_column(binding)),
        key_param(binding, pk, params)
    );
    if scope.is_everything() {
        key
    } else {
        let scope = columns::filter(binding, scope);
        format!("{key} AND {}", where_clause(&scope, alias, params))
    }
}

/// The key column's name.
pub(super) fn key_column(binding: &ModelBinding) -> &str {
    binding.key_field().column_name()
}

/// A key as a parameter cast to the key's type.
pub(super) fn key_param(binding: &ModelBinding, pk: &Key, params: &mut Params) -> String {
    format!(
        "{}::{}",
        params.text(Some(pk.to_string())),
        binding.key_kind().pg_type()
    )
}

fn get(binding: &ModelBinding, pk: &Key, scope: &Filter) -> Statement {
    let mut params = Params::default();
    let cond = pk_and_scope(binding, pk, scope, T, &mut params);
    Statement {
        text: format!(
            "SELECT row_to_json(\"R\")::text FROM {} AS \"{T}\" {} WHERE {cond}",
            table(binding),
            lateral_row(binding, T),
        ),
        params: params.into_values(),
    }
}

fn count(binding: &ModelBinding, filter: &Filter) -> Statement {
    let mut params = Params::default();
    let cond = where_clause(&columns::filter(binding, filter), T, &mut params);
    Statement {
        text: format!(
            "SELECT count(*)::text FROM {} AS \"{T}\" WHERE {cond}",
            table(binding)
        ),
        params: params.into_values(),
    }
}

/// Bounds beyond `bigint` mean "all" or "none" alike; clamping keeps the cast from failing.
fn clamp(n: u64) -> String {
    n.min(i64::MAX as u64).to_string()
}

fn page(
    binding: &ModelBinding,
    filter: &Filter,
    order: &Ordering,
    offset: u64,
    limit: u64,
) -> Statement {
    let mut params = Params::default();
    let cond = where_clause(&columns::filter(binding, filter), T, &mut params);
    let order = order_by(&columns::order(binding, order), T, &mut params);
    let limit = params.text(Some(clamp(limit)));
    let offset = params.text(Some(clamp(offset)));
    Statement {
        text: format!(
            "SELECT row_to_json(\"R\")::text FROM {} AS \"{T}\" {} WHERE {cond} ORDER BY {order} \
             LIMIT {limit}::bigint OFFSET {offset}::bigint",
            table(binding),
            lateral_row(binding, T),
        ),
        params: params.into_values(),
    }
}

/// The rows of a relation, in order; with `per`, numbered within each value of its field by
/// one window and kept up to the limit, then put back in the global order by a second window
/// over the same sort keys (the order `MemoryStore` keeps them in).
fn related(
    binding: &ModelBinding,
    filter: &Filter,
    order: &Ordering,
    per: Option<&PerValue>,
) -> Statement {
    let mut params = Params::default();
    let cond = where_clause(&columns::filter(binding, filter), T, &mut params);
    let order = order_by(&columns::order(binding, order), T, &mut params);
    let from = format!("{} AS \"{T}\" {}", table(binding), lateral_row(binding, T));
    let text = match per {
        None => {
            format!("SELECT row_to_json(\"R\")::text FROM {from} WHERE {cond} ORDER BY {order}")
        }
        Some(per) => {
            let field = binding
                .get(&per.field)
                .map_or(per.field.as_str(), |f| f.column_name());
            let limit = params.text(Some(clamp(per.limit)));
            format!(
                "SELECT \"W\".\"j\" FROM (SELECT row_to_json(\"R\")::text AS \"j\", \
                 row_number() OVER (PARTITION BY {} ORDER BY {order}) AS \"n\", \
                 row_number() OVER (ORDER BY {order}) AS \"g\" FROM {from} WHERE {cond}) AS \"W\" \
                 WHERE \"W\".\"n\" <= {limit}::bigint ORDER BY \"W\".\"g\"",
                column(T, field),
            )
        }
    };
    Statement {
        text,
        params: params.into_values(),
    }
}

/// The `(field, value)` pairs of `values` that name a column to write: keys that are not
/// fields are left out, and so are the key's other name (the column's, when rows also carry
/// it as `id`) and the key itself when the database generates it. In binding order, so the statement text (and with it the prepared statement)
/// is the same for every write of the same shape.
pub(super) fn write_columns<'a>(
    binding: &'a ModelBinding,
    values: &'a Row,
) -> impl Iterator<Item = (&'a crate::binding::Field, &'a Value)> {
    let mirror = binding.key_mirror();
    let given_key = binding.key_source_kind() != crate::binding::KeySource::Database;
    binding
        .fields()
        .iter()
        .filter(move |f| Some(f.name()) != mirror && (given_key || f.name() != PK))
        .filter_map(move |f| values.get(f.name()).map(|v| (f, v)))
}

fn insert(binding: &ModelBinding, values: &Row) -> Statement {
    let mut params = Params::default();
    let (names, exprs): (Vec<String>, Vec<String>) = write_columns(binding, values)
        .map(|(f, v)| (ident(f.column_name()), params.typed(f.kind(), v)))
        .unzip();
    let table = table(binding);
    let body = if names.is_empty() {
        "DEFAULT VALUES".to_owned()
    } else {
        format!("({}) VALUES ({})", names.join(", "), exprs.join(", "))
    };
    Statement {
        text: format!(
            "INSERT INTO {table} AS \"{T}\" {body} RETURNING {}",
            row_json(binding, T)
        ),
        params: params.into_values(),
    }
}

/// One statement returns both images: the pre-update row is read and locked in a subquery,
/// joined to the target, and returned beside the new row.
fn update(binding: &ModelBinding, pk: &Key, values: &Row, scope: &Filter) -> Statement {
    let mut params = Params::default();
    let table = table(binding);
    let cond = pk_and_scope(binding, pk, scope, CUR, &mut params);
    let key = key_column(binding);
    let mut sets: Vec<String> = write_columns(binding, values)
        .filter(|(f, _)| f.name() != PK)
        .map(|(f, v)| format!("{} = {}", ident(f.column_name()), params.typed(f.kind(), v)))
        .collect();
    if let Some(field) = counter(binding) {
        // The counter moves in the statement that writes, so two writers never get one number.
        let col = ident(field.column_name());
        sets.push(format!(
            "{col} = COALESCE({}, 0) + 1",
            column(T, field.column_name())
        ));
    }
    if sets.is_empty() {
        // Nothing to change; still touch the row so the op behaves like any update.
        sets.push(format!("{} = {}", ident(key), column(T, key)));
    }
    Statement {
        text: format!(
            "UPDATE {table} AS \"{T}\" SET {} FROM (SELECT {} AS {pk}, {} AS \"json\" FROM {table} AS \"{CUR}\" \
             WHERE {cond} FOR UPDATE) AS \"{OLD}\" WHERE {} = {} RETURNING {}, {}",
            sets.join(", "),
            column(CUR, key),
            row_json(binding, CUR),
            column(T, key),
            column(OLD, PK),
            column(OLD, "json"),
            row_json(binding, T),
            pk = ident(PK),
        ),
        params: params.into_values(),
    }
}

/// The binding's version field when it is a counter the store increments on every update.
fn counter(binding: &ModelBinding) -> Option<&crate::binding::Field> {
    match binding.version_kind() {
        Some(crate::binding::VersionKind::Counter) => binding.get(binding.version_name()?),
        _ => None,
    }
}

/// The rows of `referrer` whose foreign key points at `pk` of `target`, locked, in primary
/// key order.
fn referring_rows(referrer: &Referrer, target: &ModelBinding, pk: &Key) -> Statement {
    let mut params = Params::default();
    let key = key_param(target, pk, &mut params);
    let from = &referrer.binding;
    let fk = from
        .get(&referrer.field)
        .map_or(referrer.field.as_str(), |f| f.column_name());
    Statement {
        text: format!(
            "SELECT row_to_json(\"R\")::text FROM {} AS \"{T}\" {} WHERE {} = {key} ORDER BY {} FOR UPDATE OF \"{T}\"",
            table(from),
            lateral_row(from, T),
            column(T, fk),
            column(T, key_column(from)),
        ),
        params: params.into_values(),
    }
}

/// Whether `row` satisfies `filter`: the row's values, each cast to its column's type, stand in
/// for a stored row under the alias the filter compiles over, so its relation subqueries read
/// the related rows stored now. One column per column name (the key's other name is left out).
fn matches(binding: &ModelBinding, filter: &Filter, row: &Row) -> Statement {
    let mut params = Params::default();
    let mirror = binding.key_mirror();
    let values: Vec<String> = binding
        .fields()
        .iter()
        .filter(|f| Some(f.name()) != mirror)
        .map(|f| {
            let value = row.get(f.name()).unwrap_or(&Value::Null);
            let placeholder = params.text(f.kind().to_param(value));
            format!(
                "{placeholder}::{} AS {}",
                f.kind().pg_type(),
                ident(f.column_name())
            )
        })
        .collect();
    let cond = where_clause(&columns::filter(binding, filter), T, &mut params);
    Statement {
        text: format!(
            "SELECT (COALESCE({cond}, FALSE))::text FROM (SELECT {}) AS \"{T}\"",
            values.join(", ")
        ),
        params: params.into_values(),
    }
}

fn delete(binding: &ModelBinding, pk: &Key, scope: &Filter) -> Statement {
    let mut params = Params::default();
    let cond = pk_and_scope(binding, pk, scope, T, &mut params);
    Statement {
        text: format!(
            "DELETE FROM {} AS \"{T}\" WHERE {cond} RETURNING {}",
            table(binding),
            row_json(binding, T),
        ),
        params: params.into_values(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use serde_json::json;
    use std::sync::Arc;

    fn binding() -> Arc<ModelBinding> {
        Arc::new(
            ModelBinding::new("auth_user")
                .field(Field::string("username"))
                .field(Field::datetime("joined")),
        )
    }

    #[test]
    fn get_reads_canonical_json_by_key_and_scope() {
        let scope = Filter::pk(&binding(), &3.into());
        let p = plan(&StoreOp::Get {
            binding: binding(),
            pk: 7.into(),
            scope,
        });
        assert!(p.read_only);
        assert_eq!(
            p.statements[0].text,
            "SELECT row_to_json(\"R\")::text FROM \"auth_user\" AS \"T\" CROSS JOIN LATERAL (SELECT \
             \"T\".\"id\" AS \"id\", \"T\".\"username\" AS \"username\", to_char(\"T\".\"joined\" AT TIME ZONE \
             'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS \"joined\") AS \"R\" WHERE \"T\".\"id\" = \
             $1::text::bigint AND \"T\".\"id\" = $2::text::bigint"
        );
        assert_eq!(
            p.statements[0].params,
            vec![Some("7".to_owned()), Some("3".to_owned())]
        );
    }

    #[test]
    fn search_counts_then_reads_a_window() {
        let op = StoreOp::Search {
            binding: binding(),
            filter: Filter::everything(),
            order: Ordering::by_pk(&binding()),
            offset: 50,
            limit: u64::MAX,
        };
        let p = plan(&op);
        assert_eq!(p.statements.len(), 2);
        assert_eq!(
            p.statements[0].text,
            "SELECT count(*)::text FROM \"auth_user\" AS \"T\" WHERE TRUE"
        );
        assert!(p.statements[1]
            .text
            .ends_with("ORDER BY \"T\".\"id\" ASC LIMIT $1::text::bigint OFFSET $2::text::bigint"));
        assert_eq!(
            p.statements[1].params,
            vec![Some(i64::MAX.to_string()), Some("50".to_owned())]
        );
    }

    #[test]
    fn writes_take_only_known_columns_as_params() {
        let values = json!({"username": "x'; --", "nope": 1, "id": 9})
            .as_object()
            .cloned()
            .unwrap();
        let p = plan(&StoreOp::Insert {
            binding: binding(),
            values,
        });
        assert!(!p.read_only);
        assert!(p.statements[0].text.starts_with("INSERT INTO \"auth_user\" AS \"T\" (\"username\") VALUES ($1::text) RETURNING (SELECT row_to_json"));
        assert_eq!(p.statements[0].params, vec![Some("x'; --".to_owned())]);

        let p = plan(&StoreOp::Insert {
            binding: binding(),
            values: Row::new(),
        });
        assert!(p.statements[0].text.contains("DEFAULT VALUES"));

        let op = StoreOp::Update {
            binding: binding(),
            pk: 1.into(),
            values: Row::new(),
            scope: Filter::everything(),
        };
        let text = &plan(&op).statements[0].text;
        assert!(
            text.starts_with("UPDATE \"auth_user\" AS \"T\" SET \"id\" = \"T\".\"id\" FROM"),
            "{text}"
        );
        assert!(text.contains(
            "FOR UPDATE) AS \"O\" WHERE \"T\".\"id\" = \"O\".\"id\" RETURNING \"O\".\"json\""
        ));
    }
}
