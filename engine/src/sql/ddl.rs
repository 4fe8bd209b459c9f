//! The schema of the bound tables, and the constraint names PostgreSQL gives it.

use serde_json::Value;

use super::expr::{ident, literal, table};
use crate::binding::{DefaultValue, Field, FieldKind, KeySource, ModelBinding, Registry, PK};
use crate::key::KeyKind;

/// PostgreSQL's `NAMEDATALEN - 1`: the longest identifier it keeps.
const MAX_IDENT: usize = 63;

/// The name PostgreSQL chooses for a constraint it names itself (`makeObjectName` in its
/// source): `<table>_<column>_<label>`, with the longer of the two names shortened first when
/// the whole would exceed 63 bytes. Identifiers are ASCII, so bytes are characters.
pub(crate) fn constraint_name(table: &str, column: Option<&str>, label: &str) -> String {
    let overhead = label.len() + 1 + usize::from(column.is_some());
    let avail = MAX_IDENT.saturating_sub(overhead);
    let (mut n1, mut n2) = (table.len(), column.map_or(0, str::len));
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let mut name = table.get(..n1).unwrap_or(table).to_owned();
    if let Some(column) = column {
        name.push('_');
        name.push_str(column.get(..n2).unwrap_or(column));
    }
    name.push('_');
    name.push_str(label);
    name
}

/// The column type of a field.
fn column_type(field: &Field) -> String {
    match (field.kind(), field.max_len()) {
        (FieldKind::String | FieldKind::Email, Some(n)) => format!("varchar({n})"),
        (FieldKind::String | FieldKind::Email | FieldKind::Text, _) => "text".to_owned(),
        (FieldKind::Integer, _) => "bigint".to_owned(),
        (FieldKind::ForeignKey { key, .. }, _) => key.pg_type().to_owned(),
        (FieldKind::Float, _) => "double precision".to_owned(),
        (FieldKind::Decimal { .. }, _) => "numeric".to_owned(),
        (FieldKind::Boolean, _) => "boolean".to_owned(),
        (FieldKind::Date, _) => "date".to_owned(),
        (FieldKind::Datetime, _) => "timestamptz".to_owned(),
        (FieldKind::LocalDatetime, _) => "timestamp".to_owned(),
        (FieldKind::Uuid, _) => "uuid".to_owned(),
        (FieldKind::Json, _) => "jsonb".to_owned(),
        (kind @ (FieldKind::Enum(_) | FieldKind::Array(_)), _) => kind.pg_type().into_owned(),
    }
}

/// `CREATE TYPE ... AS ENUM` for every enum type the bindings use, each skipped when a type
/// of that name exists (`CREATE TYPE` has no `IF NOT EXISTS`), with the labels of the first
/// field that uses it. A type that exists with other labels is left alone; the start-up
/// check then names the field whose choices it lacks.
fn create_enum_types(registry: &Registry) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for binding in registry.models() {
        for field in binding.fields() {
            let enum_type = match field.kind() {
                FieldKind::Enum(t) => t,
                FieldKind::Array(element) => match &**element {
                    FieldKind::Enum(t) => t,
                    _ => continue,
                },
                _ => continue,
            };
            if seen.contains(&enum_type.sql()) {
                continue;
            }
            let labels: Vec<String> = field
                .choice_list()
                .iter()
                .filter_map(|(v, _)| v.as_str())
                .map(literal)
                .collect();
            out.push(format!(
                "DO $chanbind$ BEGIN CREATE TYPE {} AS ENUM ({}); EXCEPTION WHEN duplicate_object \
                 THEN NULL; END $chanbind$",
                enum_type.sql(),
                labels.join(", ")
            ));
            seen.push(enum_type.sql());
        }
    }
    out
}

/// A default as SQL text: DDL takes no parameters, so numbers and booleans are written
/// literally and everything else as a quoted literal cast to the column type. `None` when
/// there is nothing to write (a null default, or text PostgreSQL cannot hold).
fn default_sql(kind: &FieldKind, default: &DefaultValue) -> Option<String> {
    let value = match default {
        DefaultValue::Now => return Some("now()".to_owned()),
        DefaultValue::Value(value) => value,
    };
    let numeric = matches!(
        kind,
        FieldKind::Integer
            | FieldKind::Float
            | FieldKind::Decimal { .. }
            | FieldKind::ForeignKey { .. }
    );
    match value {
        Value::Null => None,
        Value::Bool(b) if *kind == FieldKind::Boolean => {
            Some(if *b { "TRUE" } else { "FALSE" }.to_owned())
        }
        // serde_json only holds finite numbers, whose text is valid SQL.
        Value::Number(n) if numeric => Some(n.to_string()),
        value => {
            let text = kind.to_param(value)?;
            (!text.contains('\0')).then(|| format!("{}::{}", literal(&text), kind.pg_type()))
        }
    }
}

/// The DDL that creates every bound table if it is missing, in foreign key order. Foreign keys
/// that point forward in that order (cycles) are added afterwards, each only if missing, so
/// running the list again changes nothing.
pub fn create_tables(registry: &Registry) -> Vec<String> {
    let ordered = registry.models_by_dependency();
    let mut statements = create_enum_types(registry);
    let mut later = Vec::new();
    let mut created: Vec<&str> = Vec::new();
    for binding in &ordered {
        let mut columns = vec![key_column(binding)];
        let mirror = binding.key_mirror();
        for field in binding
            .fields()
            .iter()
            .filter(|f| f.name() != PK && Some(f.name()) != mirror)
        {
            let mut col = format!("{} {}", ident(field.column_name()), column_type(field));
            if !field.is_nullable() {
                col.push_str(" NOT NULL");
            }
            if field.is_unique() {
                col.push_str(" UNIQUE");
            }
            if let Some(default) = field
                .default_value()
                .and_then(|d| default_sql(field.kind(), d))
            {
                col.push_str(" DEFAULT ");
                col.push_str(&default);
            }
            if let FieldKind::ForeignKey { stream, .. } = field.kind() {
                if let Some(target) = registry.get(stream) {
                    let refs = references(target, field);
                    if target.stream() == binding.stream() || created.contains(&target.table()) {
                        col.push(' ');
                        col.push_str(&refs);
                    } else {
                        later.push(add_foreign_key(binding, field, &refs));
                    }
                }
            }
            columns.push(col);
        }
        statements.push(format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            table(binding),
            columns.join(", ")
        ));
        created.push(binding.table());
    }
    statements.extend(later);
    statements
}

/// The key column's definition: generated by the database unless clients give keys.
fn key_column(binding: &ModelBinding) -> String {
    let key = binding.key_field();
    let generated = match (binding.key_kind(), binding.key_source_kind()) {
        (KeyKind::Uuid, KeySource::Database | KeySource::DatabaseOrClient) => {
            " DEFAULT gen_random_uuid()"
        }
        _ => "",
    };
    let column_type = match (binding.key_kind(), binding.key_source_kind()) {
        (KeyKind::Integer, KeySource::Client) => "bigint".to_owned(),
        (KeyKind::Integer, _) => "bigserial".to_owned(),
        _ => column_type(key),
    };
    format!(
        "{} {column_type}{generated} PRIMARY KEY",
        ident(key.column_name())
    )
}

fn references(target: &ModelBinding, field: &Field) -> String {
    format!(
        "REFERENCES {} ({}) ON DELETE {}",
        table(target),
        ident(target.key_field().column_name()),
        field.delete_rule().sql()
    )
}

/// `ALTER TABLE ... ADD CONSTRAINT` under the name PostgreSQL would have chosen, skipped when
/// a constraint of that name exists (`ADD CONSTRAINT` has no `IF NOT EXISTS`).
fn add_foreign_key(binding: &ModelBinding, field: &Field, refs: &str) -> String {
    let name = constraint_name(binding.table(), Some(field.column_name()), "fkey");
    let table = table(binding);
    format!(
        "DO $chanbind$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {}::regclass \
         AND conname = {}) THEN ALTER TABLE {table} ADD CONSTRAINT {} FOREIGN KEY ({}) {refs}; END IF; \
         END $chanbind$",
        literal(&table),
        literal(&name),
        ident(&name),
        ident(field.column_name()),
    )
}

/// The DDL that drops every bound table, dependents first; for tests and teardown.
pub fn drop_tables(registry: &Registry) -> Vec<String> {
    registry
        .models_by_dependency()
        .iter()
        .rev()
        .map(|b| format!("DROP TABLE IF EXISTS {} CASCADE", table(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::OnDelete;
    use serde_json::json;

    fn registry() -> Registry {
        Registry::new()
            .model(
                ModelBinding::new("todo_task")
                    .field(Field::string("title").required().max_length(80))
                    .field(Field::foreign_key("owner_id", "auth.User").on_delete(OnDelete::SetNull))
                    .field(Field::decimal("cost", 2).default("0.00"))
                    .field(Field::json("tags").default(json!(["it's"]))),
            )
            .unwrap()
            .model(
                ModelBinding::new("auth_user")
                    .field(Field::string("username").unique().required())
                    .field(Field::boolean("is_active").default(true))
                    .field(Field::datetime("joined").auto_now_add())
                    .field(Field::integer("rank").default(-1)),
            )
            .unwrap()
    }

    #[test]
    fn tables_follow_their_foreign_keys() {
        let ddl = create_tables(&registry());
        assert_eq!(
            ddl,
            [
                "CREATE TABLE IF NOT EXISTS \"auth_user\" (\"id\" bigserial PRIMARY KEY, \"username\" text NOT NULL \
                 UNIQUE, \"is_active\" boolean NOT NULL DEFAULT TRUE, \"joined\" timestamptz NOT NULL DEFAULT now(), \
                 \"rank\" bigint NOT NULL DEFAULT -1)",
                "CREATE TABLE IF NOT EXISTS \"todo_task\" (\"id\" bigserial PRIMARY KEY, \"title\" varchar(80) NOT \
                 NULL, \"owner_id\" bigint REFERENCES \"auth_user\" (\"id\") ON DELETE SET NULL, \"cost\" numeric \
                 NOT NULL DEFAULT '0.00'::numeric, \"tags\" jsonb NOT NULL DEFAULT '[\"it''s\"]'::jsonb)",
            ]
        );
        assert_eq!(
            drop_tables(&registry()),
            [
                "DROP TABLE IF EXISTS \"todo_task\" CASCADE",
                "DROP TABLE IF EXISTS \"auth_user\" CASCADE"
            ]
        );
    }

    #[test]
    fn cycles_add_their_foreign_keys_afterwards() {
        let reg = Registry::new()
            .model(ModelBinding::new("a_a").field(Field::foreign_key("b_id", "b.B")))
            .unwrap()
            .model(
                ModelBinding::new("b_b")
                    .stream_name("b.B")
                    .field(Field::foreign_key("a_id", "a.A")),
            )
            .unwrap();
        let ddl = create_tables(&reg);
        assert_eq!(ddl.len(), 3);
        assert_eq!(
            ddl[0],
            "CREATE TABLE IF NOT EXISTS \"a_a\" (\"id\" bigserial PRIMARY KEY, \"b_id\" bigint)"
        );
        assert!(ddl[1].ends_with("REFERENCES \"a_a\" (\"id\") ON DELETE RESTRICT)"));
        assert!(ddl[2].contains(
            "ALTER TABLE \"a_a\" ADD CONSTRAINT \"a_a_b_id_fkey\" FOREIGN KEY (\"b_id\")"
        ));
    }

    #[test]
    fn constraint_names_shorten_like_postgres() {
        assert_eq!(
            constraint_name("auth_user", Some("username"), "key"),
            "auth_user_username_key"
        );
        assert_eq!(constraint_name("auth_user", None, "pkey"), "auth_user_pkey");
        let long = "x".repeat(60);
        let name = constraint_name(&long, Some("name"), "fkey");
        assert_eq!(name.len(), 63);
        assert_eq!(name, format!("{}_name_fkey", "x".repeat(53)));
        let name = constraint_name(&"t".repeat(40), Some(&"c".repeat(40)), "key");
        assert_eq!(name, format!("{}_{}_key", "t".repeat(29), "c".repeat(29)));
    }
}
