//! Field kinds (their JSON and PostgreSQL forms) and enum types: beneath keys, values and
//! bindings, which all describe columns by kind.

use std::borrow::Cow;

use serde_json::Value;

use crate::key::KeyKind;

mod enum_type;

pub use enum_type::EnumType;

/// The type of a bound field; each maps to one JSON form and one PostgreSQL column type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// A short string (`varchar`); JSON string.
    String,
    /// Unbounded text (`text`); JSON string.
    Text,
    /// A 64-bit integer (`bigint`); JSON integer.
    Integer,
    /// A double (`double precision`); JSON number.
    Float,
    /// An exact decimal (`numeric`); JSON string such as `"10.50"`.
    Decimal {
        /// Digits after the point the column keeps; values are rounded to it.
        places: Option<u32>,
    },
    /// A boolean; JSON `true`/`false`.
    Boolean,
    /// A calendar date; JSON `"YYYY-MM-DD"`.
    Date,
    /// A point in time (`timestamptz`); JSON RFC 3339, always UTC with microseconds.
    Datetime,
    /// A date and time of day in no particular time zone (`timestamp without time zone`);
    /// JSON `"YYYY-MM-DDTHH:MM:SS.ffffff"`, always with microseconds and never an offset.
    LocalDatetime,
    /// A UUID; JSON lower-case hyphenated string.
    Uuid,
    /// An e-mail address (`varchar`); JSON string.
    Email,
    /// Any JSON (`jsonb`).
    Json,
    /// A value of a PostgreSQL enum type; JSON string, one of the field's `choices`. Filters,
    /// `order` and `query` treat it as its text, byte order, so both stores agree.
    Enum(EnumType),
    /// A one-dimensional array of a scalar kind (`bigint[]`, `text[]`, ...); JSON array whose
    /// items (or nulls) have the element kind's form. Compared whole: `exact`, `ne` and
    /// `isnull` only, no order.
    Array(Box<FieldKind>),
    /// The primary key of a row of another stream (`REFERENCES`), in that key's own type.
    ForeignKey {
        /// The stream the key points into.
        stream: String,
        /// The kind of the target's key; the registry sets it from the target binding.
        key: KeyKind,
    },
}

impl FieldKind {
    /// The name of the type in `form` schemas (docs/protocol.md section 2).
    pub fn form_type(&self) -> &'static str {
        match self {
            FieldKind::String | FieldKind::Enum(_) => "string",
            FieldKind::Text => "text",
            FieldKind::Integer => "integer",
            FieldKind::Float => "float",
            FieldKind::Decimal { .. } => "decimal",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
            FieldKind::Datetime => "datetime",
            FieldKind::LocalDatetime => "datetime_local",
            FieldKind::Uuid => "uuid",
            FieldKind::Email => "email",
            FieldKind::Json => "json",
            FieldKind::Array(_) => "array",
            FieldKind::ForeignKey { .. } => "foreign_key",
        }
    }

    /// Whether values are strings that `contains`-style lookups and `query` apply to.
    pub fn is_textual(&self) -> bool {
        matches!(
            self,
            FieldKind::String | FieldKind::Text | FieldKind::Email | FieldKind::Enum(_)
        )
    }

    /// Whether values are text PostgreSQL compares under a collation: the textual kinds and
    /// foreign keys to text keys. Statements compare these under `COLLATE "C"` (byte order),
    /// as the in-memory store does.
    pub fn is_collated(&self) -> bool {
        self.is_textual()
            || matches!(
                self,
                FieldKind::ForeignKey {
                    key: KeyKind::Text,
                    ..
                }
            )
    }

    /// Whether values have an order (`__gt`, `order`). JSON documents and arrays do not.
    pub fn is_ordered(&self) -> bool {
        !self.is_document()
    }

    /// Whether values are compared whole, as documents: JSON and arrays take only `exact`,
    /// `ne` and `isnull` filters.
    pub fn is_document(&self) -> bool {
        matches!(self, FieldKind::Json | FieldKind::Array(_))
    }

    /// Whether `self` may be the element kind of an [`Array`](Self::Array): the scalar kinds.
    pub fn is_array_element(&self) -> bool {
        !matches!(
            self,
            FieldKind::Json | FieldKind::Array(_) | FieldKind::ForeignKey { .. }
        )
    }

    /// The PostgreSQL type written values are cast to; values travel as text and PostgreSQL
    /// parses them, the way libpq sends parameters by default. An enum's is its own type,
    /// schema-qualified and quoted.
    pub fn pg_type(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            FieldKind::String | FieldKind::Text | FieldKind::Email => "text",
            FieldKind::Integer => "bigint",
            FieldKind::ForeignKey { key, .. } => key.pg_type(),
            FieldKind::Float => "double precision",
            FieldKind::Decimal { .. } => "numeric",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
            FieldKind::Datetime => "timestamptz",
            FieldKind::LocalDatetime => "timestamp",
            FieldKind::Uuid => "uuid",
            FieldKind::Json => "jsonb",
            FieldKind::Enum(t) => t.sql(),
            FieldKind::Array(element) => return Cow::Owned(format!("{}[]", element.pg_type())),
        })
    }

    /// The PostgreSQL type filter values are cast to: [`pg_type`](Self::pg_type), except that
    /// enums compare as `text` (a label that is not one of the type's is then simply not
    /// found, as in memory, instead of an error).
    pub fn compare_type(&self) -> Cow<'_, str> {
        match self {
            FieldKind::Enum(_) => Cow::Borrowed("text"),
            FieldKind::Array(element) if matches!(**element, FieldKind::Enum(_)) => {
                Cow::Borrowed("text[]")
            }
            _ => self.pg_type(),
        }
    }

    /// Converts a JSON value (already canonical for this kind) to the text parameter
    /// PostgreSQL parses with [`pg_type`](Self::pg_type); `None` is SQL NULL. An array
    /// becomes PostgreSQL's array text (`{"1","2",NULL}`).
    pub fn to_param(&self, value: &Value) -> Option<String> {
        match (self, value) {
            (_, Value::Null) => None,
            (FieldKind::Json, other) => Some(other.to_string()),
            (FieldKind::Array(element), Value::Array(items)) => Some(array_literal(
                items.iter().map(|item| element.to_param(item)),
            )),
            (_, Value::String(s)) => Some(s.clone()),
            (_, Value::Bool(b)) => Some(b.to_string()),
            (_, Value::Number(n)) => Some(n.to_string()),
            (_, other) => Some(other.to_string()),
        }
    }
}

/// The text form of a PostgreSQL array (`{"a","b",NULL}`), which the array types' input
/// parses: every element is quoted, with `\` and `"` escaped, so any text survives; `None` is
/// an SQL NULL element.
pub(crate) fn array_literal(items: impl Iterator<Item = Option<String>>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            None => out.push_str("NULL"),
            Some(text) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

/// How key kinds and field kinds correspond: kept with the field kinds, so keys need know
/// nothing of fields.
impl KeyKind {
    /// The key kind of a field kind, when that kind can be a key.
    pub fn of(kind: &FieldKind) -> Option<KeyKind> {
        match kind {
            FieldKind::Integer => Some(KeyKind::Integer),
            FieldKind::Uuid => Some(KeyKind::Uuid),
            FieldKind::String | FieldKind::Text => Some(KeyKind::Text),
            FieldKind::ForeignKey { key, .. } => Some(*key),
            _ => None,
        }
    }

    /// The field kind whose canonical form and column type keys of this kind have.
    pub fn field_kind(self) -> FieldKind {
        match self {
            KeyKind::Integer => FieldKind::Integer,
            KeyKind::Uuid => FieldKind::Uuid,
            KeyKind::Text => FieldKind::Text,
        }
    }
}
