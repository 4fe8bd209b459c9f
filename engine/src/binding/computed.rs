//! Computed fields: read-only values a binding derives from a row and the user reading it
//! (docs/protocol.md section 2, "Computed fields"). See [`Computed`].

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Field, FieldKind, ModelBinding};
use crate::auth::User;
use crate::filter::Lookup;
use crate::value::Row;

/// How a computed field's value is made.
type ComputeFn = dyn Fn(&Row, Option<&User>) -> Value + Send + Sync;

/// Turns a filter on a computed field (its lookup, the client's value and the reader) into a
/// filters object over the binding's real fields, or says why the value cannot be filtered by.
pub type FilterAs =
    dyn Fn(Lookup, &Value, Option<&User>) -> Result<Map<String, Value>, String> + Send + Sync;

/// A read-only field computed from the row and its reader (docs/protocol.md section 2,
/// "Computed fields"), added with [`ModelBinding::computed`].
///
/// A computed field has no column: it is never stored, never written, and rendered wherever
/// the row is (replies, pushes, feeds, HTTP, forms), for each reader. One that reads the user
/// ([`Computed::new`]) is computed again for every reader of a push; one that reads the row
/// alone ([`Computed::from_row`]) is computed once per push and shared. It cannot be filtered
/// or ordered by unless the binding says how, in terms of real fields
/// ([`Computed::filter_as`], [`Computed::order_as`]).
///
/// ```
/// use chanbind_engine::binding::{Computed, Field, FieldKind, ModelBinding};
/// use serde_json::{json, Value};
///
/// let users = ModelBinding::new("auth_user")
///     .field(Field::string("first_name"))
///     .field(Field::string("last_name"))
///     .computed(
///         Computed::from_row("full_name", FieldKind::String, |row| {
///             let part = |name: &str| row.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
///             json!(format!("{} {}", part("first_name"), part("last_name")).trim())
///         })
///         .depends_on(["first_name", "last_name"])
///         .order_as(["last_name", "first_name"]),
///     );
/// let tasks = ModelBinding::new("todo_task")
///     .field(Field::foreign_key("owner_id", "auth.User"))
///     .computed(
///         Computed::new("is_mine", FieldKind::Boolean, |row, user| {
///             json!(user.is_some_and(|u| row.get("owner_id") == Some(&json!(u.id))))
///         })
///         .depends_on(["owner_id"])
///         .filter_as(|_lookup, value, user| match value {
///             Value::Bool(mine) => {
///                 let me = json!({"owner_id": user.map_or(-1, |u| u.id)});
///                 Ok(if *mine { me } else { json!({"not": me}) }.as_object().cloned().unwrap_or_default())
///             }
///             _ => Err("must be true or false".into()),
///         }),
///     );
/// assert!(tasks.computed_field("is_mine").is_some_and(|c| c.reads_user()));
/// assert!(users.get("full_name").is_none(), "a computed field is no column");
/// ```
#[derive(Clone)]
pub struct Computed {
    /// Its name, label, help text, kind and nullability, as forms and the OpenAPI document
    /// describe it; always read-only.
    field: Field,
    compute: Arc<ComputeFn>,
    reads_user: bool,
    depends_on: Option<Vec<String>>,
    filter_as: Option<Arc<FilterAs>>,
    order_as: Option<Vec<String>>,
}

impl fmt::Debug for Computed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Computed")
            .field("name", &self.field.name)
            .field("kind", &self.field.kind)
            .field("reads_user", &self.reads_user)
            .field("depends_on", &self.depends_on)
            .field("filterable", &self.filter_as.is_some())
            .field("order_as", &self.order_as)
            .finish()
    }
}

impl Computed {
    /// A field computed from the row and the user reading it (`None` when anonymous, or when
    /// the engine itself reads). Every reader of a push gets its own value, so such a field
    /// costs an encoding per reader where a field of the row alone costs one per push.
    ///
    /// `kind` is what forms and the OpenAPI document say the value is; the function should
    /// return values of that kind (or null when [`nullable`](Self::nullable)).
    pub fn new(
        name: &str,
        kind: FieldKind,
        compute: impl Fn(&Row, Option<&User>) -> Value + Send + Sync + 'static,
    ) -> Self {
        Self::make(name, kind, Arc::new(compute), true)
    }

    /// A field computed from the row alone: the same for every reader.
    pub fn from_row(
        name: &str,
        kind: FieldKind,
        compute: impl Fn(&Row) -> Value + Send + Sync + 'static,
    ) -> Self {
        Self::make(name, kind, Arc::new(move |row, _| compute(row)), false)
    }

    fn make(name: &str, kind: FieldKind, compute: Arc<ComputeFn>, reads_user: bool) -> Self {
        let mut field = Field::of(name, kind).read_only().not_null();
        field.filterable = false;
        field.orderable = false;
        Computed {
            field,
            compute,
            reads_user,
            depends_on: None,
            filter_as: None,
            order_as: None,
        }
    }

    /// The label forms and the OpenAPI document show (by default the name, capitalized, with
    /// spaces for underscores).
    pub fn label(mut self, label: &str) -> Self {
        self.field = self.field.label(label);
        self
    }

    /// A help text for forms and the OpenAPI document.
    pub fn help_text(mut self, text: &str) -> Self {
        self.field = self.field.help_text(text);
        self
    }

    /// Says the value may be null (the OpenAPI document then says `nullable`).
    pub fn nullable(mut self) -> Self {
        self.field.nullable = Some(true);
        self
    }

    /// The fields the value is computed from. An update that changes none of them leaves the
    /// value as it was, so it is not computed again to decide whether a reader who sees
    /// only this field must be pushed. Without it, every update computes it twice (before and
    /// after) for that decision. The registry refuses names that are no field of the binding.
    pub fn depends_on<S: AsRef<str>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.depends_on = Some(fields.into_iter().map(|f| f.as_ref().to_owned()).collect());
        self
    }

    /// Makes the field filterable: a lookup on it (`is_mine: true`, `full_name__icontains`)
    /// becomes the filters object `translate` returns, over the binding's real fields, as
    /// the server writes filters (any field, relation paths included, like a permission's
    /// scope). An `Err` is the client's `invalid_filter`, naming the key. Without it, a filter
    /// on the field is `invalid_filter`.
    pub fn filter_as(
        mut self,
        translate: impl Fn(Lookup, &Value, Option<&User>) -> Result<Map<String, Value>, String>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.filter_as = Some(Arc::new(translate));
        self.field.filterable = true;
        self
    }

    /// Makes the field orderable: ordering by it orders by these fields of the binding
    /// (each ascending, or descending with `-`), all reversed for a descending key. Without
    /// it, ordering by the field is `invalid_filter`.
    pub fn order_as<S: AsRef<str>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.order_as = Some(fields.into_iter().map(|f| f.as_ref().to_owned()).collect());
        self.field.orderable = true;
        self
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.field.name
    }

    /// The field as forms and the OpenAPI document describe it: its kind, label, help text
    /// and nullability, read-only.
    pub fn as_field(&self) -> &Field {
        &self.field
    }

    /// Whether the value depends on who reads it.
    pub fn reads_user(&self) -> bool {
        self.reads_user
    }

    /// The fields it is computed from, when the binding said ([`depends_on`](Self::depends_on)).
    pub fn dependencies(&self) -> Option<&[String]> {
        self.depends_on.as_deref()
    }

    /// The value for `row` as `user` reads it.
    pub fn value(&self, row: &Row, user: Option<&User>) -> Value {
        (self.compute)(row, user)
    }

    /// The translation of a filter on the field, when it has one.
    pub fn filter_translation(&self) -> Option<&FilterAs> {
        self.filter_as.as_deref()
    }

    /// The fields ordering by it orders by, when it has them.
    pub fn order_fields(&self) -> Option<&[String]> {
        self.order_as.as_deref()
    }

    /// Whether an update from `old` to `new` may change the value: one of its dependencies
    /// changed, or it did not say what it depends on.
    pub(crate) fn may_change(&self, old: &Row, new: &Row) -> bool {
        match &self.depends_on {
            Some(fields) => fields.iter().any(|f| old.get(f) != new.get(f)),
            None => true,
        }
    }

    /// What is wrong with it on `binding`, if anything: a name taken by a field, or a
    /// dependency or order field that is no (orderable) field of the binding.
    pub(crate) fn problem(&self, binding: &ModelBinding) -> Option<String> {
        let name = self.name();
        if binding.get(name).is_some() {
            return Some(format!("{name} is a field too"));
        }
        let missing = |f: &String| binding.get(f).is_none();
        if let Some(f) = self.depends_on.iter().flatten().find(|f| missing(f)) {
            return Some(format!("depends on {f}, which is no field"));
        }
        let unorderable = |f: &String| {
            !binding
                .get(f.strip_prefix('-').unwrap_or(f))
                .is_some_and(Field::is_orderable)
        };
        if let Some(f) = self.order_as.iter().flatten().find(|f| unorderable(f)) {
            return Some(format!("orders as {f}, which is no orderable field"));
        }
        if self.order_as.as_ref().is_some_and(Vec::is_empty) {
            return Some("orders as no field".into());
        }
        None
    }
}

impl ModelBinding {
    /// Adds a computed field (see [`Computed`]); one of the same name replaces it.
    pub fn computed(mut self, computed: Computed) -> Self {
        self.computed.retain(|c| c.name() != computed.name());
        self.computed.push(computed);
        self
    }

    /// The computed fields, in the order they were added.
    pub fn computed_fields(&self) -> &[Computed] {
        &self.computed
    }

    /// The computed field called `name`.
    pub fn computed_field(&self, name: &str) -> Option<&Computed> {
        self.computed.iter().find(|c| c.name() == name)
    }

    /// Whether `name` is a field or a computed field: a name clients may read.
    pub fn shows(&self, name: &str) -> bool {
        self.get(name).is_some() || self.computed_field(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn dependencies_decide_whether_an_update_may_change_it() {
        let c = Computed::from_row("n", FieldKind::Integer, |_| json!(1)).depends_on(["a"]);
        assert!(!c.may_change(&row(json!({"a": 1, "b": 1})), &row(json!({"a": 1, "b": 2}))));
        assert!(c.may_change(&row(json!({"a": 1})), &row(json!({"a": 2}))));
        let any = Computed::from_row("n", FieldKind::Integer, |_| json!(1));
        assert!(any.may_change(&row(json!({"a": 1})), &row(json!({"a": 1}))));
    }

    #[test]
    fn the_registry_refuses_what_is_no_field() {
        let b = ModelBinding::new("a_b").field(Field::string("x").not_orderable());
        let c = |f: Computed| f.problem(&b);
        let plain = || Computed::from_row("y", FieldKind::String, |_| Value::Null);
        assert_eq!(c(plain()), None);
        assert!(c(Computed::from_row("x", FieldKind::String, |_| Value::Null)).is_some());
        assert!(c(plain().depends_on(["nope"])).is_some());
        assert!(c(plain().order_as(["x"])).is_some(), "x is not orderable");
        assert!(c(plain().order_as(["-id"])).is_none());
    }
}
