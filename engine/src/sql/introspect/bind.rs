//! Bindings made from table descriptions: every column a field, the primary key the key,
//! foreign keys among the tables as relations.

use std::collections::HashMap;

use super::column_type::map;
use super::{ColumnDescription, IntrospectError, TableDescription, TableName};
use crate::binding::{Field, FieldKind, KeySource, ModelBinding, PK};
use crate::key::KeyKind;

/// What a foreign key needs to know of the table it points at.
struct Target {
    stream: String,
    key: String,
    key_kind: KeyKind,
}

/// Binds `tables`, each named by the name at the same place in `names`. See
/// [`super::bind_described`].
pub(crate) fn bind(
    names: &[TableName],
    tables: &[TableDescription],
) -> Result<Vec<ModelBinding>, IntrospectError> {
    let mut targets = HashMap::new();
    for (name, table) in names.iter().zip(tables) {
        let key = key_column(table)?;
        let key_kind = map(key)
            .and_then(|m| KeyKind::of(&m.kind))
            .unwrap_or_default();
        targets.insert(
            (table.schema.clone(), table.name.clone()),
            Target {
                stream: new_binding(name, table).stream().to_owned(),
                key: key.name.clone(),
                key_kind,
            },
        );
    }
    names
        .iter()
        .zip(tables)
        .map(|(name, table)| bind_one(name, table, &targets))
        .collect()
}

/// The binding of `table`, in the schema the user named (an unqualified name stays on the
/// `search_path`, and its stream is the table's Django name).
fn new_binding(name: &TableName, table: &TableDescription) -> ModelBinding {
    let binding = ModelBinding::new(&table.name);
    match name.schema() {
        Some(_) => binding.schema(&table.schema),
        None => binding,
    }
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
    name: &TableName,
    table: &TableDescription,
    targets: &HashMap<(String, String), Target>,
) -> Result<ModelBinding, IntrospectError> {
    let key = key_column(table)?;
    let mut binding = new_binding(name, table).key(key_field(table, key)?);
    let source = match (binding.key_kind(), key.has_server_value()) {
        (_, false) => KeySource::Client,
        (KeyKind::Integer, true) => KeySource::Database,
        (_, true) => KeySource::DatabaseOrClient,
    };
    binding = binding.key_source(source);
    for column in table.columns.iter().filter(|c| c.name != key.name) {
        if let Some(field) = field(table, column, targets)? {
            binding = binding.field(field);
        }
    }
    Ok(binding)
}

/// The key's field, named like its column; [`ModelBinding::key`] makes it `id`.
fn key_field(table: &TableDescription, key: &ColumnDescription) -> Result<Field, IntrospectError> {
    let mapped = map(key).filter(|m| KeyKind::of(&m.kind).is_some());
    let Some(mapped) = mapped else {
        return Err(IntrospectError::UnsupportedColumn {
            place: format!("{}.{}", table.qualified(), key.name),
            sql_type: key.type_text.clone(),
            why: "it is the primary key, which must be an integer, a UUID or text",
        });
    };
    Ok(with_comment(mapped.field(&key.name), key))
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
    let name = field_name(&column.name);
    let relation = table.foreign_key(&column.name).and_then(|fk| {
        let target = targets.get(&(fk.schema.clone(), fk.table.clone()))?;
        (fk.referenced == [target.key.as_str()]).then_some((fk, target))
    });
    let mut field = match relation {
        Some((fk, target)) => {
            let kind = FieldKind::ForeignKey {
                stream: target.stream.clone(),
                key: target.key_kind,
            };
            Field::of(&name, kind).on_delete(fk.delete_rule())
        }
        None => mapped.field(&name),
    };
    if name != column.name {
        field = field.column(&column.name);
    }
    field = writes(field, column);
    if table.is_unique(&column.name) {
        field = field.unique();
    }
    Ok(Some(with_comment(field, column)))
}

/// How creates and updates treat the column: generated and `ALWAYS` identity columns are
/// read-only; a default (or a `BY DEFAULT` identity) lets a create leave it out; `NOT NULL`
/// without one must be given.
fn writes(field: Field, column: &ColumnDescription) -> Field {
    let field = if column.is_server_only() {
        field.read_only()
    } else if column.has_server_value() {
        field.server_default()
    } else if column.not_null {
        // Never null, so a create must give it; not `required`, which refuses the "" a
        // NOT NULL text column takes.
        return field.not_null();
    } else {
        field
    };
    if column.not_null {
        field.not_null()
    } else {
        field
    }
}

/// The column's comment as the field's help text.
fn with_comment(field: Field, column: &ColumnDescription) -> Field {
    match &column.comment {
        Some(comment) => field.help_text(comment),
        None => field,
    }
}

/// The field name of a column: its own name, unless that is `id` (which names the key) or
/// holds what a field name may not (`__`, which separates a lookup; control characters).
fn field_name(column: &str) -> String {
    if column == PK {
        return "id_column".to_owned();
    }
    let mut name: String = column
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::super::description::sample::{column, table};
    use super::*;
    use crate::binding::{EnumType, OnDelete};
    use serde_json::json;

    fn bind_all(tables: &[TableDescription]) -> Vec<ModelBinding> {
        let names: Vec<TableName> = tables
            .iter()
            .map(|t| TableName::unchecked(None, &t.name))
            .collect();
        bind(&names, tables).expect("bound")
    }

    #[test]
    fn keys_defaults_and_relations() {
        let author = table(
            "author",
            vec![column("name", "text", json!({"not_null": true}))],
            json!({"columns": [
                column("id", "uuid", json!({"not_null": true, "default": "gen_random_uuid()"})),
                column("name", "text", json!({"not_null": true})),
            ], "unique": ["name"]}),
        );
        let book = table(
            "book",
            vec![],
            json!({"columns": [
                column("isbn", "varchar", json!({"not_null": true, "modifier": 21})),
                column("author_id", "uuid", json!({})),
                column("Pages", "int4", json!({"not_null": true, "default": "0"})),
                column("a__b", "bool", json!({"not_null": true})),
                column("id", "int8", json!({})),
            ], "primary_key": ["isbn"], "foreign_keys": [{"name": "f", "columns": ["author_id"],
                "schema": "public", "table": "author", "referenced": ["id"], "on_delete": "n"}]}),
        );
        let bound = bind_all(&[author, book]);
        let (author, book) = (&bound[0], &bound[1]);
        assert_eq!(author.key_kind(), KeyKind::Uuid);
        assert_eq!(author.key_source_kind(), KeySource::DatabaseOrClient);
        assert_eq!(
            author.get("name"),
            Some(&Field::text("name").not_null().unique())
        );
        assert_eq!(book.key_kind(), KeyKind::Text);
        assert_eq!(book.key_source_kind(), KeySource::Client);
        assert_eq!(book.key_field().column_name(), "isbn");
        assert_eq!(book.key_field().max_len(), Some(17));
        let fields: Vec<&Field> = book.fields().iter().skip(2).collect();
        assert_eq!(
            fields,
            [
                &Field::of(
                    "author_id",
                    FieldKind::ForeignKey {
                        stream: "author".into(),
                        key: KeyKind::Uuid
                    }
                )
                .on_delete(OnDelete::SetNull),
                &Field::integer("Pages")
                    .min(i32::MIN)
                    .max(i32::MAX)
                    .server_default()
                    .not_null(),
                &Field::boolean("a_b").column("a__b").not_null(),
                &Field::integer("id_column").column("id"),
            ]
        );
    }

    #[test]
    fn columns_that_cannot_be_bound() {
        let t = |columns: Vec<serde_json::Value>| table("t", columns, json!({}));
        let skipped = bind_all(&[t(vec![column("blob", "bytea", json!({}))])]);
        assert!(
            skipped[0].get("blob").is_none(),
            "a nullable bytea is left out"
        );
        let names = [TableName::unchecked(None, "t")];
        let e = bind(
            &names,
            &[t(vec![column("blob", "bytea", json!({"not_null": true}))])],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "public.t.blob is of type bytea, which chanbind cannot bind, and it is NOT NULL \
             without a default, so no create could leave it out"
        );
        let mut keyed = t(vec![]);
        keyed.columns[0] = serde_json::from_value(column("id", "bool", json!({}))).unwrap();
        assert!(bind(&names, &[keyed])
            .unwrap_err()
            .to_string()
            .contains("it is the primary key"));
        let e = EnumType::new(Some("public"), "mood");
        let mood = column(
            "mood",
            "",
            json!({"sql_type": {"schema": "public", "name": "mood", "typtype": "e",
                                "labels": ["a", "b"]}, "generated": "s"}),
        );
        let bound = bind_all(&[t(vec![mood])]);
        assert_eq!(
            bound[0].get("mood"),
            Some(&Field::enumeration("mood", e, ["a", "b"]).read_only())
        );
    }
}
