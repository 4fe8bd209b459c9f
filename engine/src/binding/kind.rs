//! Field types, their JSON form and their PostgreSQL form.

use serde_json::Value;

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
    /// A UUID; JSON lower-case hyphenated string.
    Uuid,
    /// An e-mail address (`varchar`); JSON string.
    Email,
    /// Any JSON (`jsonb`).
    Json,
    /// The primary key of a row of another stream (`REFERENCES`), in that key's own type.
    ForeignKey {
        /// The stream the key points into.
        stream: String,
        /// The kind of the target's key; the registry sets it from the target binding.
        key: crate::key::KeyKind,
    },
}

impl FieldKind {
    /// The name of the type in `form` schemas (docs/protocol.md section 2).
    pub fn form_type(&self) -> &'static str {
        match self {
            FieldKind::String => "string",
            FieldKind::Text => "text",
            FieldKind::Integer => "integer",
            FieldKind::Float => "float",
            FieldKind::Decimal { .. } => "decimal",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
            FieldKind::Datetime => "datetime",
            FieldKind::Uuid => "uuid",
            FieldKind::Email => "email",
            FieldKind::Json => "json",
            FieldKind::ForeignKey { .. } => "foreign_key",
        }
    }

    /// Whether values are strings that `contains`-style lookups and `query` apply to.
    pub fn is_textual(&self) -> bool {
        matches!(self, FieldKind::String | FieldKind::Text | FieldKind::Email)
    }

    /// Whether values are text PostgreSQL compares under a collation: the textual kinds and
    /// foreign keys to text keys. Statements compare these under `COLLATE "C"` (byte order),
    /// as the in-memory store does.
    pub fn is_collated(&self) -> bool {
        self.is_textual()
            || matches!(
                self,
                FieldKind::ForeignKey {
                    key: crate::key::KeyKind::Text,
                    ..
                }
            )
    }

    /// Whether values have an order (`__gt`, `order`). JSON documents do not.
    pub fn is_ordered(&self) -> bool {
        !matches!(self, FieldKind::Json)
    }

    /// The PostgreSQL type parameters are cast to; values travel as text and PostgreSQL parses
    /// them, the way libpq sends parameters by default.
    pub fn pg_type(&self) -> &'static str {
        match self {
            FieldKind::String | FieldKind::Text | FieldKind::Email => "text",
            FieldKind::Integer => "bigint",
            FieldKind::ForeignKey { key, .. } => key.pg_type(),
            FieldKind::Float => "double precision",
            FieldKind::Decimal { .. } => "numeric",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
            FieldKind::Datetime => "timestamptz",
            FieldKind::Uuid => "uuid",
            FieldKind::Json => "jsonb",
        }
    }

    /// Converts a JSON value (already canonical for this kind) to the text parameter
    /// PostgreSQL parses with [`pg_type`](Self::pg_type); `None` is SQL NULL.
    pub fn to_param(&self, value: &Value) -> Option<String> {
        match value {
            Value::Null => None,
            Value::String(s) if !matches!(self, FieldKind::Json) => Some(s.clone()),
            Value::Bool(b) if !matches!(self, FieldKind::Json) => Some(b.to_string()),
            Value::Number(n) if !matches!(self, FieldKind::Json) => Some(n.to_string()),
            other => Some(other.to_string()),
        }
    }
}
