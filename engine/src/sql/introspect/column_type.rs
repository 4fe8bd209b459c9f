//! Which field kind a column's type becomes, with the constraints the type itself implies
//! (a `varchar(n)`'s length, a `smallint`'s bounds, an enum's labels).

use super::{ColumnDescription, TypeDescription};
use crate::binding::{EnumType, Field, FieldKind};

/// A column's type as a field: the kind and what the type bounds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mapped {
    /// The field kind.
    pub(crate) kind: FieldKind,
    /// The longest string (`varchar(n)`, `char(n)`), for each item of an array.
    pub(crate) max_length: Option<usize>,
    /// The bounds of the type (`smallint`, `integer`, `real`, `numeric(p,s)`).
    pub(crate) bounds: (Option<f64>, Option<f64>),
    /// An enum's labels, in order.
    pub(crate) labels: Vec<String>,
    /// Whether filters can compare it: not a `json` column, which has no equality (`jsonb`
    /// has).
    pub(crate) filterable: bool,
}

impl Mapped {
    fn of(kind: FieldKind) -> Self {
        Mapped {
            kind,
            max_length: None,
            bounds: (None, None),
            labels: Vec::new(),
            filterable: true,
        }
    }

    fn bounded(kind: FieldKind, min: f64, max: f64) -> Self {
        Mapped {
            bounds: (Some(min), Some(max)),
            ..Mapped::of(kind)
        }
    }

    /// A field named `name` of this kind, with these constraints.
    pub(crate) fn field(&self, name: &str) -> Field {
        let mut field = match &self.kind {
            FieldKind::Enum(t) => Field::enumeration(name, t.clone(), self.labels.clone()),
            kind => {
                let labels = self.labels.iter().map(|l| (l.clone(), l.clone()));
                Field::of(name, kind.clone()).choices(labels)
            }
        };
        if let Some(n) = self.max_length {
            field = field.max_length(n);
        }
        if let Some(min) = self.bounds.0 {
            field = field.min(min);
        }
        if let Some(max) = self.bounds.1 {
            field = field.max(max);
        }
        if !self.filterable {
            field = field.not_filterable();
        }
        field
    }
}

/// The field kind of `column`'s type, or `None` when chanbind has no kind for it (`bytea`,
/// `interval`, `inet`, composite and range types, arrays of those or of JSON, and
/// multi-dimensional use is not checked: PostgreSQL does not record it).
pub(crate) fn map(column: &ColumnDescription) -> Option<Mapped> {
    match &column.element {
        Some(element) => {
            let item = scalar(element, column)?;
            if !item.kind.is_array_element() || !item.filterable {
                return None;
            }
            Some(Mapped {
                kind: FieldKind::Array(Box::new(item.kind.clone())),
                ..item
            })
        }
        None => scalar(&column.sql_type, column),
    }
}

/// The kind of one (non-array) type; the modifier is the column's.
fn scalar(t: &TypeDescription, column: &ColumnDescription) -> Option<Mapped> {
    if t.typtype == "e" {
        return Some(Mapped {
            labels: t.labels.clone(),
            ..Mapped::of(FieldKind::Enum(EnumType::new(Some(&t.schema), &t.name)))
        });
    }
    if t.schema != "pg_catalog" || t.typtype != "b" {
        return None;
    }
    Some(match t.name.as_str() {
        "text" => Mapped::of(FieldKind::Text),
        "varchar" | "bpchar" => Mapped {
            max_length: column.max_length(),
            ..Mapped::of(FieldKind::String)
        },
        "int2" => Mapped::bounded(FieldKind::Integer, i16::MIN.into(), i16::MAX.into()),
        "int4" => Mapped::bounded(FieldKind::Integer, i32::MIN.into(), i32::MAX.into()),
        "int8" => Mapped::of(FieldKind::Integer),
        "float4" => Mapped::bounded(FieldKind::Float, f32::MIN.into(), f32::MAX.into()),
        "float8" => Mapped::of(FieldKind::Float),
        "numeric" => numeric(column),
        "bool" => Mapped::of(FieldKind::Boolean),
        "date" => Mapped::of(FieldKind::Date),
        "timestamptz" => Mapped::of(FieldKind::Datetime),
        "timestamp" => Mapped::of(FieldKind::LocalDatetime),
        "uuid" => Mapped::of(FieldKind::Uuid),
        "jsonb" => Mapped::of(FieldKind::Json),
        "json" => Mapped {
            filterable: false,
            ..Mapped::of(FieldKind::Json)
        },
        _ => return None,
    })
}

/// `numeric(p,s)` keeps `s` places and less than `10^(p-s)` in magnitude; a bare `numeric`
/// keeps what it is given. A negative scale (PostgreSQL 15) rounds to tens, hundreds...: the
/// reply shows what the column kept.
fn numeric(column: &ColumnDescription) -> Mapped {
    let (Some(precision), Some(scale)) = (column.numeric_precision(), column.numeric_scale())
    else {
        return Mapped::of(FieldKind::Decimal { places: None });
    };
    let places = u32::try_from(scale).ok();
    // The largest value is 10^(p-s) - 10^-s: 999.99 for numeric(5,2).
    let max = 10f64.powi(precision - scale) - 10f64.powi(-scale);
    Mapped::bounded(FieldKind::Decimal { places }, -max, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(schema: &str, name: &str, modifier: i32) -> ColumnDescription {
        ColumnDescription {
            name: "c".into(),
            type_text: name.into(),
            sql_type: TypeDescription {
                schema: schema.into(),
                name: name.into(),
                typtype: "b".into(),
                labels: Vec::new(),
            },
            element: None,
            modifier,
            not_null: false,
            default: None,
            identity: String::new(),
            generated: String::new(),
            comment: None,
        }
    }

    #[test]
    fn types_and_what_they_bound() {
        let m = |name: &str, modifier: i32| map(&column("pg_catalog", name, modifier));
        assert_eq!(m("varchar", 24).unwrap().max_length, Some(20));
        assert_eq!(m("varchar", -1).unwrap().max_length, None);
        assert_eq!(m("text", -1).unwrap().kind, FieldKind::Text);
        assert_eq!(
            m("int2", -1).unwrap().bounds,
            (Some(-32768.0), Some(32767.0))
        );
        assert_eq!(m("int8", -1).unwrap().bounds, (None, None));
        assert_eq!(m("timestamp", -1).unwrap().kind, FieldKind::LocalDatetime);
        assert_eq!(m("timestamptz", -1).unwrap().kind, FieldKind::Datetime);
        assert!(!m("json", -1).unwrap().filterable);
        // numeric(10,2): ((10 << 16) | 2) + 4.
        let n = m("numeric", (10 << 16 | 2) + 4).unwrap();
        assert_eq!(n.kind, FieldKind::Decimal { places: Some(2) });
        assert_eq!(n.bounds.1, Some(99_999_999.99));
        assert_eq!(
            m("numeric", -1).unwrap().kind,
            FieldKind::Decimal { places: None }
        );
        // numeric(3,-2): the scale is 11-bit two's complement.
        let n = m("numeric", (3 << 16 | (-2i32 & 0x7ff)) + 4).unwrap();
        assert_eq!(n.kind, FieldKind::Decimal { places: None });
        assert_eq!(n.bounds.1, Some(99_900.0));
        for unsupported in ["bytea", "interval", "inet", "money", "tsvector"] {
            assert_eq!(m(unsupported, -1), None, "{unsupported}");
        }
        assert_eq!(map(&column("public", "citext", -1)), None);
    }

    #[test]
    fn enums_and_arrays() {
        let mut c = column("sales", "Status", -1);
        c.sql_type.typtype = "e".into();
        c.sql_type.labels = vec!["new".into(), "paid".into()];
        let e = map(&c).unwrap();
        assert_eq!(
            e.kind,
            FieldKind::Enum(EnumType::new(Some("sales"), "Status"))
        );
        let field = e.field("status");
        assert_eq!(field.choice_list().len(), 2);
        assert_eq!(field.kind().pg_type(), "\"sales\".\"Status\"");

        let mut a = column("pg_catalog", "_varchar", 14);
        a.element = Some(column("pg_catalog", "varchar", -1).sql_type);
        let a = map(&a).unwrap();
        assert_eq!(a.kind, FieldKind::Array(Box::new(FieldKind::String)));
        assert_eq!(a.max_length, Some(10));
        let mut j = column("pg_catalog", "_jsonb", -1);
        j.element = Some(column("pg_catalog", "jsonb", -1).sql_type);
        assert_eq!(map(&j), None);
    }
}
