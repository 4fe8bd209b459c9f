//! A table's name as a user writes it: `order`, `sales.Order`, `"my.table"`.

use std::fmt;

/// A table name, optionally schema-qualified, exactly as PostgreSQL's catalog spells it.
///
/// Parsed from `name` or `schema.name`. Each part is taken as written, upper case kept
/// (`sales.Order` is the table `Order` in the schema `sales`), or double-quoted to hold a dot
/// or a quote (`"my.table"`, `"say ""hi"""`). Without a schema, the connection's
/// `search_path` finds the table, as in SQL.
///
/// ```
/// use chanbind_engine::sql::introspect::TableName;
///
/// let name = TableName::parse("sales.Order").unwrap();
/// assert_eq!((name.schema(), name.name()), (Some("sales"), "Order"));
/// assert_eq!(name.sql(), "\"sales\".\"Order\"");
/// assert_eq!(TableName::parse("\"a.b\"").unwrap().name(), "a.b");
/// assert!(TableName::parse("a.b.c").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

/// Why a table name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a table name: {why}")]
pub struct BadTableName {
    text: String,
    why: &'static str,
}

/// PostgreSQL's `NAMEDATALEN - 1`.
const MAX_NAME: usize = 63;

impl TableName {
    /// A name from its parts, each checked as [`parse`](Self::parse) checks them: not empty, at
    /// most 63 bytes, no NUL.
    pub fn new(schema: Option<&str>, name: &str) -> Result<Self, BadTableName> {
        let text = match schema {
            Some(s) => format!("{s}.{name}"),
            None => name.to_owned(),
        };
        for part in schema.into_iter().chain([name]) {
            check_part(part).map_err(|why| BadTableName {
                text: text.clone(),
                why,
            })?;
        }
        Ok(TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// A name whose parts are known to be valid (a registry's table).
    pub(crate) fn unchecked(schema: Option<&str>, name: &str) -> Self {
        TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// Parses `name` or `schema.name` (see the type's documentation).
    pub fn parse(text: &str) -> Result<Self, BadTableName> {
        let bad = |why| BadTableName {
            text: text.to_owned(),
            why,
        };
        let parts = split(text).map_err(bad)?;
        match parts.as_slice() {
            [name] => TableName::new(None, name),
            [schema, name] => TableName::new(Some(schema), name),
            _ => Err(bad("at most a schema and a table, `schema.table`")),
        }
        .map_err(|e| BadTableName {
            text: text.to_owned(),
            why: e.why,
        })
    }

    /// The schema, when given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table's own name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quoted SQL form, `"schema"."name"` or `"name"`.
    pub fn sql(&self) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&self.name)),
            None => quote(&self.name),
        }
    }
}

impl fmt::Display for TableName {
    /// `schema.name` as written, for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

fn check_part(part: &str) -> Result<(), &'static str> {
    if part.is_empty() {
        Err("a part is empty")
    } else if part.len() > MAX_NAME {
        Err("a part is longer than 63 bytes")
    } else if part.contains('\0') {
        Err("a part contains NUL")
    } else {
        Ok(())
    }
}

/// Splits at the dots outside double quotes and unquotes each part.
fn split(text: &str) -> Result<Vec<String>, &'static str> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err("a quote is not closed"),
                }
            }
            match chars.peek() {
                None | Some('.') => {}
                Some(_) => return Err("text follows a closing quote"),
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err("a quote inside an unquoted name");
                }
                part.push(c);
                chars.next();
            }
        }
        parts.push(part);
        match chars.next() {
            Some('.') => continue,
            _ => return Ok(parts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_plain_parts() {
        let n = TableName::parse("\"Sales\".\"Or\"\"der\"").unwrap();
        assert_eq!((n.schema(), n.name()), (Some("Sales"), "Or\"der"));
        assert_eq!(n.sql(), "\"Sales\".\"Or\"\"der\"");
        assert_eq!(n.to_string(), "Sales.Or\"der");
        let n = TableName::parse("Order").unwrap();
        assert_eq!((n.schema(), n.name()), (None, "Order"));
        assert_eq!(TableName::parse("\"a.b\".c").unwrap().schema(), Some("a.b"));
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (bad, why) in [
            ("", "a part is empty"),
            ("a.", "a part is empty"),
            (".a", "a part is empty"),
            ("a.b.c", "at most a schema and a table, `schema.table`"),
            ("\"a", "a quote is not closed"),
            ("\"a\"b", "text follows a closing quote"),
            ("a\"b", "a quote inside an unquoted name"),
            ("a\0b", "a part contains NUL"),
        ] {
            assert_eq!(TableName::parse(bad).unwrap_err().why, why, "{bad:?}");
        }
        let long = "x".repeat(64);
        assert_eq!(
            TableName::parse(&long).unwrap_err().why,
            "a part is longer than 63 bytes"
        );
        assert!(TableName::parse(&"x".repeat(63)).is_ok());
    }
}
