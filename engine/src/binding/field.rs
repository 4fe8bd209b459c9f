//! One bound field and its constraints, declared with a builder.

use serde_json::Value;

use super::{EnumType, FieldKind};

/// What happens to rows that reference a deleted row through a foreign key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// Refuse the delete with `conflict` while references exist (the default).
    Restrict,
    /// Delete the referencing rows too.
    Cascade,
    /// Set the reference to null.
    SetNull,
}

impl OnDelete {
    /// The SQL clause.
    pub fn sql(self) -> &'static str {
        match self {
            OnDelete::Restrict => "RESTRICT",
            OnDelete::Cascade => "CASCADE",
            OnDelete::SetNull => "SET NULL",
        }
    }
}

/// A field's default for new rows.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// A fixed value.
    Value(Value),
    /// The time of the write (for `datetime` fields).
    Now,
}

/// A bound field: its name, its column (the name unless [`column`](Self::column) says
/// otherwise), type and constraints.
///
/// Built with a constructor per type and chained setters:
/// `Field::integer("priority").min(0).max(5).default(0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub(crate) name: String,
    pub(crate) column: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) kind: FieldKind,
    pub(crate) required: bool,
    pub(crate) nullable: Option<bool>,
    pub(crate) max_length: Option<usize>,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) choices: Vec<(Value, String)>,
    pub(crate) unique: bool,
    pub(crate) read_only: bool,
    pub(crate) default: Option<DefaultValue>,
    pub(crate) help_text: Option<String>,
    pub(crate) on_delete: OnDelete,
    pub(crate) filterable: bool,
    pub(crate) orderable: bool,
    pub(crate) server_default: bool,
}

macro_rules! constructor {
    ($(#[$doc:meta])* $fn:ident => $kind:expr) => {
        $(#[$doc])*
        pub fn $fn(name: &str) -> Self {
            Self::of(name, $kind)
        }
    };
}

impl Field {
    /// A field of any kind.
    pub fn of(name: &str, kind: FieldKind) -> Self {
        Field {
            name: name.to_owned(),
            column: None,
            label: None,
            kind,
            required: false,
            nullable: None,
            max_length: None,
            min: None,
            max: None,
            choices: Vec::new(),
            unique: false,
            read_only: false,
            default: None,
            help_text: None,
            on_delete: OnDelete::Restrict,
            filterable: true,
            orderable: true,
            server_default: false,
        }
    }

    constructor!(/// A short string (`varchar`).
        string => FieldKind::String);
    constructor!(/// Unbounded text.
        text => FieldKind::Text);
    constructor!(/// A 64-bit integer.
        integer => FieldKind::Integer);
    constructor!(/// A double-precision float.
        float => FieldKind::Float);
    constructor!(/// A boolean.
        boolean => FieldKind::Boolean);
    constructor!(/// A date.
        date => FieldKind::Date);
    constructor!(/// A timestamp with time zone.
        datetime => FieldKind::Datetime);
    constructor!(/// A date and time of day without a time zone (`timestamp`).
        local_datetime => FieldKind::LocalDatetime);
    constructor!(/// A UUID.
        uuid => FieldKind::Uuid);
    constructor!(/// An e-mail address, checked on write.
        email => FieldKind::Email);
    constructor!(/// A JSON document.
        json => FieldKind::Json);

    /// An exact decimal kept to `places` digits after the point.
    pub fn decimal(name: &str, places: u32) -> Self {
        Self::of(
            name,
            FieldKind::Decimal {
                places: Some(places),
            },
        )
    }

    /// A value of the PostgreSQL enum type `enum_type`, one of `labels` (in the type's order),
    /// each its own label in forms.
    pub fn enumeration<L: Into<String>>(
        name: &str,
        enum_type: EnumType,
        labels: impl IntoIterator<Item = L>,
    ) -> Self {
        let choices = labels
            .into_iter()
            .map(|l| {
                let l = l.into();
                (Value::String(l.clone()), l)
            })
            .collect();
        Field {
            choices,
            ..Self::of(name, FieldKind::Enum(enum_type))
        }
    }

    /// A one-dimensional array of `element` values (a scalar kind: not JSON, an array or a
    /// foreign key; the registry refuses those).
    pub fn array(name: &str, element: FieldKind) -> Self {
        Self::of(name, FieldKind::Array(Box::new(element)))
    }

    /// A foreign key to the rows of `stream`; deletes of the target are restricted unless
    /// [`on_delete`](Self::on_delete) says otherwise.
    pub fn foreign_key(name: &str, stream: &str) -> Self {
        Self::of(
            name,
            FieldKind::ForeignKey {
                stream: stream.to_owned(),
                key: crate::key::KeyKind::default(),
            },
        )
    }

    /// The column holding the field, when it is not called like the field (a mixed-case
    /// column such as `createdAt` needs no rename: every identifier is quoted).
    pub fn column(mut self, column: &str) -> Self {
        self.column = Some(column.to_owned());
        self
    }

    /// The column has a default of its own in the database (`DEFAULT now()`, a sequence):
    /// a create that leaves the field out lets PostgreSQL fill it in, and the reply shows what
    /// it stored. The in-memory store, which runs no SQL, stores null instead.
    pub fn server_default(mut self) -> Self {
        self.server_default = true;
        self
    }

    /// The label shown in forms (default: the name, capitalised, underscores as spaces).
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    /// Must be given on create and is never null; a required string refuses `""`.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The column may hold null, whatever `required` and `default` say (a field is nullable
    /// unless it is required or has a default); undoes [`not_null`](Self::not_null).
    pub fn nullable(mut self) -> Self {
        self.nullable = Some(true);
        self
    }

    /// Never null, though not required (it has a default or is set by the server).
    pub fn not_null(mut self) -> Self {
        self.nullable = Some(false);
        self
    }

    /// The longest string accepted, in characters.
    pub fn max_length(mut self, n: usize) -> Self {
        self.max_length = Some(n);
        self
    }

    /// The smallest number accepted.
    pub fn min(mut self, n: impl Into<f64>) -> Self {
        self.min = Some(n.into());
        self
    }

    /// The largest number accepted.
    pub fn max(mut self, n: impl Into<f64>) -> Self {
        self.max = Some(n.into());
        self
    }

    /// The only values accepted, each with its label.
    pub fn choices<V: Into<Value>, L: Into<String>>(
        mut self,
        choices: impl IntoIterator<Item = (V, L)>,
    ) -> Self {
        self.choices = choices
            .into_iter()
            .map(|(v, l)| (v.into(), l.into()))
            .collect();
        self
    }

    /// No two rows may share a value; a duplicate is `conflict`.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Clients cannot write it; writes leave it alone.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The value new rows take when the client gives none.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(DefaultValue::Value(value.into()));
        self
    }

    /// A read-only timestamp the server sets to the time of the insert.
    pub fn auto_now_add(mut self) -> Self {
        self.default = Some(DefaultValue::Now);
        self.read_only = true;
        self
    }

    /// Help shown under the input in forms.
    pub fn help_text(mut self, text: &str) -> Self {
        self.help_text = Some(text.to_owned());
        self
    }

    /// What a delete of the referenced row does to this row (foreign keys only).
    pub fn on_delete(mut self, rule: OnDelete) -> Self {
        self.on_delete = rule;
        self
    }

    /// Refuse filters on this field (`invalid_filter`).
    pub fn not_filterable(mut self) -> Self {
        self.filterable = false;
        self
    }

    /// Refuse `order` on this field (`invalid_filter`).
    pub fn not_orderable(mut self) -> Self {
        self.orderable = false;
        self
    }

    /// The field name, under which rows carry it and clients filter, order and write it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column name.
    pub fn column_name(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.name)
    }

    /// Whether the database fills the column in when a create leaves it out.
    pub fn has_server_default(&self) -> bool {
        self.server_default
    }

    /// The field's type.
    pub fn kind(&self) -> &FieldKind {
        &self.kind
    }

    /// The form label.
    pub fn display_label(&self) -> String {
        self.label.clone().unwrap_or_else(|| {
            let mut label = self.name.replace('_', " ");
            if let Some(first) = label.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            label
        })
    }

    /// Whether the column may hold null: not when required, defaulted or declared `not_null`.
    pub fn is_nullable(&self) -> bool {
        self.nullable
            .unwrap_or(!self.required && self.default.is_none())
    }

    /// Whether clients may write it.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether it must be given on create.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// Whether values must be unique.
    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// Whether filters may name it.
    pub fn is_filterable(&self) -> bool {
        self.filterable
    }

    /// Whether `order` may name it.
    pub fn is_orderable(&self) -> bool {
        self.orderable && self.kind.is_ordered()
    }

    /// The declared default.
    pub fn default_value(&self) -> Option<&DefaultValue> {
        self.default.as_ref()
    }

    /// The delete rule of a foreign key.
    pub fn delete_rule(&self) -> OnDelete {
        self.on_delete
    }

    /// The longest accepted string.
    pub fn max_len(&self) -> Option<usize> {
        self.max_length
    }

    /// The numeric bounds.
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        (self.min, self.max)
    }

    /// The accepted values with labels (empty when any value goes).
    pub fn choice_list(&self) -> &[(Value, String)] {
        &self.choices
    }

    /// The help text.
    pub fn help(&self) -> Option<&str> {
        self.help_text.as_deref()
    }
}
