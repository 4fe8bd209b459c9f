//! The PostgreSQL enum type of an [`Enum`](super::FieldKind::Enum) field.

/// A PostgreSQL enum type, by schema and name, exactly as the catalog spells them (case
/// kept). Its SQL text is quoted once, here, so a name can never leave its quotes.
///
/// ```
/// use chanbind_engine::binding::EnumType;
///
/// assert_eq!(EnumType::new(Some("sales"), "Status").sql(), "\"sales\".\"Status\"");
/// assert_eq!(EnumType::new(None, "mood").sql(), "\"mood\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    schema: Option<String>,
    name: String,
    sql: String,
}

impl EnumType {
    /// The enum type `name` in `schema`, or wherever the connection's `search_path` finds it.
    pub fn new(schema: Option<&str>, name: &str) -> Self {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let sql = match schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(name)),
            None => quote(name),
        };
        EnumType {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
            sql,
        }
    }

    /// The schema, when given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The type's own name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quoted SQL name, for casts and DDL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Whether every part is a name PostgreSQL can hold: not empty, at most 63 bytes, no NUL.
    pub(crate) fn is_valid(&self) -> bool {
        let ok = |s: &str| !s.is_empty() && s.len() <= 63 && !s.contains('\0');
        ok(&self.name) && self.schema.as_deref().is_none_or(ok)
    }
}
