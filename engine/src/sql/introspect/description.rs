//! What the catalog statement returns, decoded: a table's columns, keys and constraints.

use serde::Deserialize;

use crate::binding::OnDelete;

/// A table as PostgreSQL's catalog describes it: what [`super::describe`]'s statement returns,
/// decoded by [`super::decode_description`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TableDescription {
    /// The table's schema.
    pub schema: String,
    /// The table's name, as the catalog spells it.
    pub name: String,
    /// `pg_class.relkind`: `r` for a table, `p` for a partitioned one; anything else (a view,
    /// a sequence) is not bound.
    pub relkind: String,
    /// The columns, in table order.
    pub columns: Vec<ColumnDescription>,
    /// The primary key's columns, in key order; empty without one.
    pub primary_key: Vec<String>,
    /// The columns a single-column unique index covers (a `UNIQUE` constraint has one), other
    /// than the primary key's; partial and expression indexes are left out.
    pub unique: Vec<String>,
    /// The foreign keys, by constraint name.
    pub foreign_keys: Vec<ForeignKeyDescription>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ColumnDescription {
    /// The column's name, as the catalog spells it.
    pub name: String,
    /// The type as `format_type` writes it (`character varying(20)`, `"Mood"`), for messages.
    pub type_text: String,
    /// The type, after a domain is resolved to the type it is over.
    pub sql_type: TypeDescription,
    /// The element type, when [`sql_type`](Self::sql_type) is an array.
    pub element: Option<TypeDescription>,
    /// The type modifier (`atttypmod`, or the domain's): the length of a `varchar(n)`, the
    /// precision and scale of a `numeric(p,s)`; -1 for none. See [`max_length`](Self::max_length)
    /// and [`numeric_scale`](Self::numeric_scale).
    pub modifier: i32,
    /// `NOT NULL`, on the column or its domain.
    pub not_null: bool,
    /// The default expression, the column's or its domain's; for a generated column, its
    /// expression.
    pub default: Option<String>,
    /// `GENERATED ... AS IDENTITY`: `a` (always), `d` (by default) or empty.
    pub identity: String,
    /// `GENERATED ALWAYS AS (...) STORED`: `s`, or empty.
    pub generated: String,
    /// The column's comment (`COMMENT ON COLUMN`).
    pub comment: Option<String>,
}

/// A type from `pg_type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TypeDescription {
    /// The type's schema (`pg_catalog` for the built-in ones).
    pub schema: String,
    /// The type's name in `pg_type` (`int4`, `varchar`, `_text` for `text[]`).
    pub name: String,
    /// `pg_type.typtype`: `b` base, `e` enum, `c` composite, `r` range, `m` multirange,
    /// `p` pseudo.
    pub typtype: String,
    /// An enum's labels in their order (`enumsortorder`); empty for other types.
    pub labels: Vec<String>,
}

/// A foreign key constraint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ForeignKeyDescription {
    /// The constraint's name.
    pub name: String,
    /// The referring columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table's schema.
    pub schema: String,
    /// The referenced table's name.
    pub table: String,
    /// The referenced columns, in key order.
    pub referenced: Vec<String>,
    /// `pg_constraint.confdeltype`: `a` no action, `r` restrict, `c` cascade, `n` set null,
    /// `d` set default.
    pub on_delete: String,
}

impl TableDescription {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnDescription> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether a single-column unique index covers `column` (the primary key counts when it
    /// is that one column).
    pub fn is_unique(&self, column: &str) -> bool {
        self.unique.iter().any(|c| c == column) || self.primary_key == [column]
    }

    /// The single-column foreign key on `column`, if any.
    pub fn foreign_key(&self, column: &str) -> Option<&ForeignKeyDescription> {
        self.foreign_keys.iter().find(|f| f.columns == [column])
    }

    /// Whether it is a table (ordinary or partitioned) rather than a view or a sequence.
    pub fn is_table(&self) -> bool {
        matches!(self.relkind.as_str(), "r" | "p")
    }

    /// `schema.name`, for messages.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

impl ColumnDescription {
    /// Whether PostgreSQL fills the column in when an insert leaves it out: a default, an
    /// identity or a generated column.
    pub fn has_server_value(&self) -> bool {
        self.default.is_some() || !self.identity.is_empty() || !self.generated.is_empty()
    }

    /// Whether clients cannot write it: a generated column, or an identity `ALWAYS`.
    pub fn is_server_only(&self) -> bool {
        !self.generated.is_empty() || self.identity == "a"
    }

    /// The `n` of `varchar(n)` or `char(n)`: PostgreSQL stores it plus the 4-byte header.
    pub fn max_length(&self) -> Option<usize> {
        usize::try_from(self.modifier.checked_sub(4)?).ok()
    }

    /// The scale `s` of `numeric(p,s)` (negative since PostgreSQL 15); `None` for a bare
    /// `numeric`. The modifier is `((p << 16) | (s & 0x7ff)) + 4`, with `s` in 11-bit two's
    /// complement.
    pub fn numeric_scale(&self) -> Option<i32> {
        let packed = self.modifier.checked_sub(4).filter(|m| *m >= 0)?;
        Some(((packed & 0x7ff) ^ 1024) - 1024)
    }

    /// The precision `p` of `numeric(p,s)`.
    pub fn numeric_precision(&self) -> Option<i32> {
        let packed = self.modifier.checked_sub(4).filter(|m| *m >= 0)?;
        Some((packed >> 16) & 0xffff)
    }
}

impl ForeignKeyDescription {
    /// The `ON DELETE` rule as the engine follows it: cascade and set null are published as
    /// the changes they make; no action, restrict and set default leave the referring rows to
    /// the database (a refused delete is `conflict`).
    pub fn delete_rule(&self) -> OnDelete {
        match self.on_delete.as_str() {
            "c" => OnDelete::Cascade,
            "n" => OnDelete::SetNull,
            _ => OnDelete::Restrict,
        }
    }
}

/// Descriptions written as the catalog statement's JSON, for the tests of this module.
#[cfg(test)]
pub(crate) mod sample {
    use serde_json::{json, Value};

    use super::TableDescription;

    /// A column of a built-in type (`pg_type.typname`), nullable, no default, unless
    /// `extra` says otherwise (its keys replace the column's).
    pub(crate) fn column(name: &str, typname: &str, extra: Value) -> Value {
        let mut column = json!({
            "name": name, "type_text": typname,
            "sql_type": {"schema": "pg_catalog", "name": typname, "typtype": "b", "labels": []},
            "element": null, "modifier": -1, "not_null": false, "default": null,
            "identity": "", "generated": "", "comment": null,
        });
        if let (Some(column), Value::Object(extra)) = (column.as_object_mut(), extra) {
            column.extend(extra);
        }
        column
    }

    /// The table `public.<name>` keyed by a `bigserial` `id`, with `columns` after it.
    pub(crate) fn table(name: &str, columns: Vec<Value>, extra: Value) -> TableDescription {
        let id = column(
            "id",
            "int8",
            json!({"not_null": true, "default": "nextval('t_id_seq'::regclass)", "type_text": "bigint"}),
        );
        let mut table = json!({
            "schema": "public", "name": name, "relkind": "r",
            "columns": std::iter::once(id).chain(columns).collect::<Vec<_>>(),
            "primary_key": ["id"], "unique": [], "foreign_keys": [],
        });
        if let (Some(table), Value::Object(extra)) = (table.as_object_mut(), extra) {
            table.extend(extra);
        }
        serde_json::from_value(table).expect("a table description")
    }
}
