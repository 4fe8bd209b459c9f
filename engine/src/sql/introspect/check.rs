//! Whether a declared binding fits the table the database has.

use super::column_type::{map, Mapped};
use super::{ColumnDescription, TableDescription};
use crate::binding::{Field, FieldKind, ModelBinding, PK};
use crate::store::Mismatch;

/// Every way `binding` differs from `table` (`None`: the table does not exist), in field
/// order. Empty when it fits:
///
/// - the table exists and is a table, and its primary key is the binding's key column alone;
/// - every field has a column, of a type the field's kind reads and writes without loss
///   (any integer width for an integer; `varchar(n)` only for a string whose `max_length` is
///   at most `n`; the enum type of an enum field, with every declared choice among its
///   labels; `timestamptz` for a datetime and `timestamp` for a local datetime);
/// - a field the client may leave out on create (nullable, not required) has a column that
///   takes null, unless the field has a default of its own;
/// - a read-only field's column takes null or fills itself in (a default, an identity, a
///   generated column), since creates leave it out; a writable field's column is not
///   generated or `GENERATED ALWAYS AS IDENTITY`, which refuse writes;
/// - a unique field's column has a unique index, since the database is what enforces it.
pub fn check_binding(binding: &ModelBinding, table: Option<&TableDescription>) -> Vec<Mismatch> {
    let Some(table) = table else {
        return vec![Mismatch {
            place: binding.table().to_owned(),
            declared: format!("the table of stream {}", binding.stream()),
            found: "no such table".to_owned(),
        }];
    };
    let place = |column: &str| format!("{}.{column}", binding.table());
    if !table.is_table() {
        return vec![Mismatch {
            place: binding.table().to_owned(),
            declared: "a table".to_owned(),
            found: format!(
                "a relation of kind {:?} (a view or a sequence?)",
                table.relkind
            ),
        }];
    }
    let mut out = Vec::new();
    if table.primary_key != [PK] {
        out.push(Mismatch {
            place: place(PK),
            declared: "the primary key".to_owned(),
            found: match table.primary_key.as_slice() {
                [] => "a table without a primary key".to_owned(),
                columns => format!("the primary key ({})", columns.join(", ")),
            },
        });
    }
    for field in binding.fields() {
        let Some(column) = table.column(field.name()) else {
            out.push(Mismatch {
                place: place(field.name()),
                declared: declared(field),
                found: "no such column".to_owned(),
            });
            continue;
        };
        let mut differs = |declared: String, found: String| {
            out.push(Mismatch {
                place: place(field.name()),
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
        if let Err((declared, found)) = nulls(field, column) {
            differs(declared, found);
        }
        if field.is_unique() && !table.is_unique(field.name()) {
            differs(
                "unique".to_owned(),
                "no unique index on the column".to_owned(),
            );
        }
    }
    out
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
        (FieldKind::Integer | FieldKind::ForeignKey { .. }, FieldKind::Integer)
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
        FieldKind::ForeignKey { stream } => format!("foreign key to {stream}"),
        other => other.form_type().to_owned(),
    }
}

/// A field as declared, for "no such column".
fn declared(field: &Field) -> String {
    format!("field {} ({})", field.name(), name(field.kind()))
}
