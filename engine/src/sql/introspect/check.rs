//! Whether a declared binding fits the table the database has.

use super::column_type::{map, Mapped};
use super::{ColumnDescription, TableDescription};
use crate::binding::{Field, FieldKind, KeySource, ModelBinding, OnDelete, PK};
use crate::key::KeyKind;
use crate::store::Mismatch;

/// Every way `binding` differs from `table` (`None`: the table does not exist), in field
/// order. Empty when it fits:
///
/// - the table exists and is a table, and its primary key is the binding's key column alone,
///   which fills itself in (a default, an identity) unless clients give keys;
/// - every field has a column, of a type the field's kind reads and writes without loss
///   (any integer width for an integer; `varchar(n)` only for a string whose `max_length` is
///   at most `n`; the enum type of an enum field, with every declared choice among its
///   labels; `timestamptz` for a datetime and `timestamp` for a local datetime);
/// - a field the client may leave out on create (nullable, not required) has a column that
///   takes null, unless the field has a default of its own; a field declared
///   `server_default` has a column with a default;
/// - a read-only field's column takes null or fills itself in (a default, an identity, a
///   generated column), since creates leave it out; a writable field's column is not
///   generated or `GENERATED ALWAYS AS IDENTITY`, which refuse writes;
/// - a unique field's column has a unique index, since the database is what enforces it;
/// - a foreign key's `ON DELETE` rule is the constraint's (no action, restrict and set
///   default count as restrict), and a cascade or set null has a constraint to carry it out.
pub fn check_binding(binding: &ModelBinding, table: Option<&TableDescription>) -> Vec<Mismatch> {
    let qualified = binding.qualified_table();
    let Some(table) = table else {
        return vec![Mismatch {
            place: qualified,
            declared: format!("the table of stream {}", binding.stream()),
            found: "no such table".to_owned(),
        }];
    };
    let place = |column: &str| format!("{qualified}.{column}");
    if !table.is_table() {
        return vec![Mismatch {
            place: qualified.clone(),
            declared: "a table".to_owned(),
            found: format!(
                "a relation of kind {:?} (a view or a sequence?)",
                table.relkind
            ),
        }];
    }
    let mut out = Vec::new();
    let key = binding.key_field().column_name();
    if table.primary_key != [key] {
        out.push(Mismatch {
            place: place(key),
            declared: "the primary key".to_owned(),
            found: match table.primary_key.as_slice() {
                [] => "a table without a primary key".to_owned(),
                columns => format!("the primary key ({})", columns.join(", ")),
            },
        });
    }
    // The key's mirror (rows carry the key under its column's name too) is the key's column.
    let mirror = binding.key_mirror();
    for field in binding.fields().iter().filter(|f| Some(f.name()) != mirror) {
        let name = field.column_name();
        let Some(column) = table.column(name) else {
            out.push(Mismatch {
                place: place(name),
                declared: declared(field),
                found: "no such column".to_owned(),
            });
            continue;
        };
        let mut differs = |declared: String, found: String| {
            out.push(Mismatch {
                place: place(name),
                declared,
                found,
            })
        };
        let Some(mapped) = map(column) else {
            differs(
                declared(field),
                format!("{}, which chanbind cannot bind", column.type_text),
            );
            continue;
        };
        if let Err((declared, found)) = types(field, field.kind(), &mapped, column) {
            differs(declared, found);
            continue;
        }
        let writes = if field.name() == PK {
            key_source(binding, column)
        } else {
            nulls(field, column)
        };
        if let Err((declared, found)) = writes {
            differs(declared, found);
        }
        if field.is_unique() && !table.is_unique(name) {
            differs(
                "unique".to_owned(),
                "no unique index on the column".to_owned(),
            );
        }
        if let Err((declared, found)) = delete_rule(field, table) {
            differs(declared, found);
        }
    }
    out
}

/// A foreign key's `ON DELETE` is the database's to carry out and the engine's to publish:
/// they must agree, or rows change unseen (the database cascades, the engine did not expect
/// it) or the engine publishes changes that did not happen (no constraint to carry them out).
fn delete_rule(field: &Field, table: &TableDescription) -> Differs {
    if !matches!(field.kind(), FieldKind::ForeignKey { .. }) {
        return Ok(());
    }
    let declared = field.delete_rule();
    let rule = |r: OnDelete| r.sql().to_lowercase();
    match table.foreign_key(field.column_name()) {
        None if declared == OnDelete::Restrict => Ok(()),
        None => Err((
            format!("on_delete {}", rule(declared)),
            "no foreign key constraint to carry it out".to_owned(),
        )),
        Some(fk) if fk.delete_rule() != declared => Err((
            format!("on_delete {}", rule(declared)),
            format!("a foreign key ON DELETE {}", rule(fk.delete_rule())),
        )),
        Some(_) => Ok(()),
    }
}

/// Keys the database gives need a column that fills itself in.
fn key_source(binding: &ModelBinding, column: &ColumnDescription) -> Differs {
    let who = match binding.key_source_kind() {
        KeySource::Client => return Ok(()),
        KeySource::Database => "keys the database gives",
        KeySource::DatabaseOrClient => "keys the database gives when the client gives none",
    };
    if column.has_server_value() {
        return Ok(());
    }
    Err((
        who.to_owned(),
        format!(
            "{} without a default or identity (declare key_source(KeySource::Client))",
            column.type_text
        ),
    ))
}

type Differs = Result<(), (String, String)>;

/// The kinds must agree, and what the column bounds must be checked by the field.
fn types(field: &Field, kind: &FieldKind, found: &Mapped, column: &ColumnDescription) -> Differs {
    let differ = |hint: &str| Err((format!("{}{hint}", name(kind)), column.type_text.clone()));
    match (kind, &found.kind) {
        (
            FieldKind::String | FieldKind::Email | FieldKind::Text,
            FieldKind::String | FieldKind::Text,
        ) => match (field.max_len(), found.max_length) {
            (Some(n), Some(m)) if n > m => Err((
                format!("{} with max_length {n}", name(kind)),
                format!("{} (longer values would be refused)", column.type_text),
            )),
            (None, Some(_)) => Err((
                format!("{} without max_length", name(kind)),
                format!("{} (longer values would be refused)", column.type_text),
            )),
            _ => Ok(()),
        },
        (FieldKind::ForeignKey { key, .. }, found_kind) => {
            let fits = match key {
                KeyKind::Integer => matches!(found_kind, FieldKind::Integer),
                KeyKind::Uuid => matches!(found_kind, FieldKind::Uuid),
                KeyKind::Text => matches!(found_kind, FieldKind::String | FieldKind::Text),
            };
            if fits {
                Ok(())
            } else {
                Err((
                    format!("{} (a {} key)", name(kind), key.name()),
                    column.type_text.clone(),
                ))
            }
        }
        (FieldKind::Integer, FieldKind::Integer)
        | (FieldKind::Float, FieldKind::Float)
        | (FieldKind::Decimal { .. }, FieldKind::Decimal { .. })
        | (FieldKind::Boolean, FieldKind::Boolean)
        | (FieldKind::Date, FieldKind::Date)
        | (FieldKind::Datetime, FieldKind::Datetime)
        | (FieldKind::LocalDatetime, FieldKind::LocalDatetime)
        | (FieldKind::Uuid, FieldKind::Uuid) => Ok(()),
        (FieldKind::Json, FieldKind::Json) if field.is_filterable() && !found.filterable => Err((
            "a filterable json field".to_owned(),
            format!(
                "{} (not jsonb, no equality to filter by: declare it not_filterable())",
                column.type_text
            ),
        )),
        (FieldKind::Json, FieldKind::Json) => Ok(()),
        (FieldKind::Enum(declared), FieldKind::Enum(found_type)) => {
            let same = declared.name() == found_type.name()
                && declared
                    .schema()
                    .is_none_or(|s| Some(s) == found_type.schema());
            if !same {
                return differ("");
            }
            let missing: Vec<String> = field
                .choice_list()
                .iter()
                .filter(|(v, _)| {
                    !v.as_str()
                        .is_some_and(|v| found.labels.iter().any(|l| l == v))
                })
                .map(|(v, _)| v.to_string())
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err((
                    format!("choices {}", missing.join(", ")),
                    format!("{} without those labels", column.type_text),
                ))
            }
        }
        (FieldKind::Array(declared), FieldKind::Array(_)) => {
            let item = Mapped {
                kind: match &found.kind {
                    FieldKind::Array(element) => (**element).clone(),
                    other => other.clone(),
                },
                ..found.clone()
            };
            types(field, declared, &item, column).map_err(|(d, f)| (format!("array of {d}"), f))
        }
        (FieldKind::String | FieldKind::Text, FieldKind::Enum(t)) => differ(&format!(
            " (declare Field::enumeration with EnumType {})",
            t.sql()
        )),
        (FieldKind::Datetime, FieldKind::LocalDatetime) => {
            differ(" (declare Field::local_datetime for a column without a time zone)")
        }
        (FieldKind::LocalDatetime, FieldKind::Datetime) => {
            differ(" (declare Field::datetime for a column with a time zone)")
        }
        _ => differ(""),
    }
}

/// What creates and updates write must be what the column takes.
fn nulls(field: &Field, column: &ColumnDescription) -> Differs {
    if field.has_server_default() && !column.has_server_value() {
        return Err((
            "server_default".to_owned(),
            format!("{} without a default", column.type_text),
        ));
    }
    if field.is_read_only() {
        if column.not_null && !column.has_server_value() && field.default_value().is_none() {
            return Err((
                "read-only without a default (creates leave it out)".to_owned(),
                format!("{} NOT NULL without a default", column.type_text),
            ));
        }
        return Ok(());
    }
    if column.is_server_only() {
        let what = if column.generated.is_empty() {
            "an identity GENERATED ALWAYS"
        } else {
            "a generated column"
        };
        return Err((
            "writable".to_owned(),
            format!("{what}, which refuses writes (declare it read_only())"),
        ));
    }
    if field.is_nullable() && column.not_null {
        return Err((
            "nullable (not required, no default)".to_owned(),
            format!("{} NOT NULL", column.type_text),
        ));
    }
    Ok(())
}

/// How a field's kind is named in messages.
fn name(kind: &FieldKind) -> String {
    match kind {
        FieldKind::Datetime => "datetime (with time zone)".to_owned(),
        FieldKind::LocalDatetime => "local_datetime (without time zone)".to_owned(),
        FieldKind::Enum(t) => format!("enum {}", t.sql()),
        FieldKind::Array(element) => format!("array of {}", name(element)),
        FieldKind::ForeignKey { stream, .. } => format!("foreign key to {stream}"),
        other => other.form_type().to_owned(),
    }
}

/// A field as declared, for "no such column".
fn declared(field: &Field) -> String {
    format!("field {} ({})", field.name(), name(field.kind()))
}

#[cfg(test)]
mod tests {
    use super::super::description::sample::{column, table};
    use super::*;
    use crate::binding::EnumType;
    use serde_json::json;

    fn mood() -> serde_json::Value {
        json!({"sql_type": {"schema": "public", "name": "mood", "typtype": "e",
                            "labels": ["sad", "ok"]}, "type_text": "mood"})
    }

    fn places(binding: &ModelBinding, table: &TableDescription) -> Vec<String> {
        check_binding(binding, Some(table))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_binding_that_fits_its_table_passes() {
        let t = table(
            "shop_item",
            vec![
                column(
                    "name",
                    "varchar",
                    json!({"modifier": 104, "not_null": true, "type_text": "character varying(100)"}),
                ),
                column("qty", "int4", json!({})),
                column("mood", "", mood()),
                column("at", "timestamp", json!({})),
                column(
                    "made",
                    "timestamptz",
                    json!({"not_null": true, "default": "now()"}),
                ),
                column(
                    "len",
                    "int4",
                    json!({"generated": "s", "default": "length(name)"}),
                ),
            ],
            json!({"unique": ["name"]}),
        );
        let b = ModelBinding::new("shop_item")
            .field(Field::string("name").max_length(80).required().unique())
            .field(Field::integer("qty"))
            .field(Field::enumeration(
                "mood",
                EnumType::new(None, "mood"),
                ["ok"],
            ))
            .field(Field::local_datetime("at"))
            .field(Field::datetime("made").auto_now_add())
            .field(Field::integer("len").read_only());
        assert_eq!(places(&b, &t), Vec::<String>::new());
    }

    #[test]
    fn every_difference_names_table_column_declared_and_found() {
        let t = table(
            "shop_item",
            vec![
                column(
                    "name",
                    "varchar",
                    json!({"modifier": 24, "type_text": "character varying(20)"}),
                ),
                column(
                    "code",
                    "varchar",
                    json!({"modifier": 24, "type_text": "character varying(20)"}),
                ),
                column(
                    "qty",
                    "int4",
                    json!({"not_null": true, "type_text": "integer"}),
                ),
                column("mood", "", mood()),
                column("kind", "", mood()),
                column(
                    "at",
                    "timestamp",
                    json!({"type_text": "timestamp without time zone"}),
                ),
                column(
                    "len",
                    "int4",
                    json!({"generated": "s", "type_text": "integer"}),
                ),
                column(
                    "made",
                    "timestamptz",
                    json!({"not_null": true, "type_text": "timestamp with time zone"}),
                ),
                column("blob", "bytea", json!({})),
                column("sku", "text", json!({})),
                column("owner_id", "int8", json!({})),
                column("maker_id", "int8", json!({})),
            ],
            json!({"foreign_keys": [{"name": "f", "columns": ["maker_id"], "schema": "public",
                "table": "maker", "referenced": ["id"], "on_delete": "c"}]}),
        );
        let b = ModelBinding::new("shop_item")
            .field(Field::string("name").max_length(50))
            .field(Field::string("code"))
            .field(Field::integer("qty"))
            .field(Field::enumeration(
                "mood",
                EnumType::new(None, "mood"),
                ["ok", "glad"],
            ))
            .field(Field::string("kind"))
            .field(Field::datetime("at"))
            .field(Field::integer("len"))
            .field(Field::datetime("made").read_only())
            .field(Field::text("blob"))
            .field(Field::text("sku").unique())
            .field(Field::foreign_key("owner_id", "auth.User").on_delete(OnDelete::SetNull))
            .field(Field::foreign_key("maker_id", "shop.Maker"))
            .field(Field::boolean("gone"));
        assert_eq!(
            places(&b, &t),
            [
                "shop_item.name: declared string with max_length 50, found character varying(20) (longer values would be refused)",
                "shop_item.code: declared string without max_length, found character varying(20) (longer values would be refused)",
                "shop_item.qty: declared nullable (not required, no default), found integer NOT NULL",
                "shop_item.mood: declared choices \"glad\", found mood without those labels",
                "shop_item.kind: declared string (declare Field::enumeration with EnumType \"public\".\"mood\"), found mood",
                "shop_item.at: declared datetime (with time zone) (declare Field::local_datetime for a column without a time zone), found timestamp without time zone",
                "shop_item.len: declared writable, found a generated column, which refuses writes (declare it read_only())",
                "shop_item.made: declared read-only without a default (creates leave it out), found timestamp with time zone NOT NULL without a default",
                "shop_item.blob: declared field blob (text), found bytea, which chanbind cannot bind",
                "shop_item.sku: declared unique, found no unique index on the column",
                "shop_item.owner_id: declared on_delete set null, found no foreign key constraint to carry it out",
                "shop_item.maker_id: declared on_delete restrict, found a foreign key ON DELETE cascade",
                "shop_item.gone: declared field gone (boolean), found no such column",
            ]
        );
    }

    #[test]
    fn the_table_itself_and_its_key() {
        let b = ModelBinding::new("shop_item");
        assert_eq!(
            check_binding(&b, None)[0].to_string(),
            "shop_item: declared the table of stream shop.Item, found no such table"
        );
        let view = table("shop_item", vec![], json!({"relkind": "v"}));
        assert!(places(&b, &view)[0].contains("found a relation of kind \"v\""));
        let keyed = table(
            "shop_item",
            vec![column("code", "text", json!({}))],
            json!({"primary_key": ["code"]}),
        );
        assert_eq!(
            places(&b, &keyed),
            ["shop_item.id: declared the primary key, found the primary key (code)"]
        );
        let always = table(
            "shop_item",
            vec![],
            json!({"columns": [column("id", "int8", json!({"not_null": true, "identity": "a"}))]}),
        );
        assert_eq!(
            places(&b, &always),
            Vec::<String>::new(),
            "a read-only identity key fits"
        );
    }
}
