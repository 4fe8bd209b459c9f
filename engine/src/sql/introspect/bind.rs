//! Bindings made from table descriptions: every column a field, foreign keys among the
//! tables as relations.

use std::collections::HashMap;

use super::column_type::map;
use super::{ColumnDescription, IntrospectError, TableDescription};
use crate::binding::{Field, FieldKind, ModelBinding, PK};

/// What a foreign key needs to know of the table it points at.
struct Target {
    stream: String,
    key: String,
}

/// Binds `tables`, in order. See [`super::bind_described`].
pub(crate) fn bind(tables: &[TableDescription]) -> Result<Vec<ModelBinding>, IntrospectError> {
    let mut targets = HashMap::new();
    for table in tables {
        let key = key_column(table)?;
        let stream = ModelBinding::new(&table.name).stream().to_owned();
        targets.insert(
            (table.schema.clone(), table.name.clone()),
            Target {
                stream,
                key: key.name.clone(),
            },
        );
    }
    tables.iter().map(|t| bind_one(t, &targets)).collect()
}

/// The primary key's one column.
fn key_column(table: &TableDescription) -> Result<&ColumnDescription, IntrospectError> {
    if !table.is_table() {
        return Err(IntrospectError::NotATable {
            table: table.qualified(),
            relkind: table.relkind.clone(),
        });
    }
    let name = match table.primary_key.as_slice() {
        [] => return Err(IntrospectError::NoPrimaryKey(table.qualified())),
        [one] => one,
        many => {
            return Err(IntrospectError::CompositeKey {
                table: table.qualified(),
                columns: many.join(", "),
            })
        }
    };
    table
        .column(name)
        .ok_or_else(|| IntrospectError::Malformed(format!("key column {name} is not a column")))
}

fn bind_one(
    table: &TableDescription,
    targets: &HashMap<(String, String), Target>,
) -> Result<ModelBinding, IntrospectError> {
    let key = key_column(table)?;
    let place = |c: &ColumnDescription| format!("{}.{}", table.qualified(), c.name);
    let key_kind = map(key).map(|m| m.kind);
    if key.name != PK || key_kind != Some(FieldKind::Integer) {
        return Err(IntrospectError::UnsupportedColumn {
            place: place(key),
            sql_type: key.type_text.clone(),
            why: "it is the primary key, which must be an integer named id",
        });
    }
    let mut binding = ModelBinding::new(&table.name);
    for column in table.columns.iter().filter(|c| c.name != key.name) {
        if let Some(field) = field(table, column, targets)? {
            binding = binding.field(field);
        }
    }
    Ok(binding)
}

/// The field of one column; `None` (with a warning) for a type chanbind has no kind for,
/// when the column can be left out of every write.
fn field(
    table: &TableDescription,
    column: &ColumnDescription,
    targets: &HashMap<(String, String), Target>,
) -> Result<Option<Field>, IntrospectError> {
    let Some(mapped) = map(column) else {
        if column.not_null && !column.has_server_value() {
            return Err(IntrospectError::UnsupportedColumn {
                place: format!("{}.{}", table.qualified(), column.name),
                sql_type: column.type_text.clone(),
                why: "it is NOT NULL without a default, so no create could leave it out",
            });
        }
        tracing::warn!(
            "column {}.{} left out: chanbind has no field kind for its type, {}",
            table.qualified(),
            column.name,
            column.type_text
        );
        return Ok(None);
    };
    let relation = table.foreign_key(&column.name).and_then(|fk| {
        let target = targets.get(&(fk.schema.clone(), fk.table.clone()))?;
        (fk.referenced == [target.key.as_str()]).then_some((fk, target))
    });
    let mut field = match relation {
        Some((fk, target)) => {
            Field::foreign_key(&column.name, &target.stream).on_delete(fk.delete_rule())
        }
        None => mapped.field(&column.name),
    };
    if column.is_server_only() {
        field = field.read_only();
    } else if column.not_null && !column.has_server_value() {
        field = field.required();
    } else if column.not_null {
        field = field.not_null();
    }
    if table.is_unique(&column.name) {
        field = field.unique();
    }
    if let Some(comment) = &column.comment {
        field = field.help_text(comment);
    }
    Ok(Some(field))
}
