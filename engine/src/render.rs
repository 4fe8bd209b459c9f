//! How a row is shown to a client: replies and pushes alike, so stream actors and sessions render
//! the same way.

use serde_json::Value;

use crate::binding::{Computed, ModelBinding};
use crate::permission::View;
use crate::value::Row;

/// The row as a client with `view` sees it: the binding's fields it may see, `id` included,
/// and its computed fields, computed for the view's reader.
/// Replies and pushes both go through here, so what a client can see is decided in one place.
pub fn render_row(binding: &ModelBinding, row: &Row, view: &View) -> Value {
    let mut out = serde_json::Map::new();
    for field in binding.fields().iter().filter(|f| view.can_see(f.name())) {
        out.insert(
            field.name().to_owned(),
            row.get(field.name()).cloned().unwrap_or(Value::Null),
        );
    }
    for computed in visible_computed(binding, view) {
        out.insert(computed.name().to_owned(), computed.value(row, view.user()));
    }
    Value::Object(out)
}

/// The computed fields of `binding` a reader with `view` sees.
fn visible_computed<'a>(
    binding: &'a ModelBinding,
    view: &'a View,
) -> impl Iterator<Item = &'a Computed> + 'a {
    binding
        .computed_fields()
        .iter()
        .filter(|c| view.can_see(c.name()))
}

/// Whether an update from `old` to `new` changes anything a reader with `view` sees: a field
/// of the binding it may see, `id` included, or the value of a computed field it may see.
/// An update that touches only fields hidden from it (or columns the binding does not show)
/// must not be pushed to it: the push would show nothing new, and its timing would tell that
/// a hidden value changed.
pub fn changes_visibly(binding: &ModelBinding, old: &Row, new: &Row, view: &View) -> bool {
    binding
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|name| view.can_see(name))
        .any(|name| old.get(name) != new.get(name))
        || visible_computed(binding, view).any(|c| {
            c.may_change(old, new) && c.value(old, view.user()) != c.value(new, view.user())
        })
}

/// The row as [`render_row`] shows it, serialized straight from the stored row without
/// building an intermediate map: what pushes encode, once per change (and reader, when a
/// computed field reads the user).
pub struct RowView<'a> {
    /// The binding whose fields are shown, in order.
    pub binding: &'a ModelBinding,
    /// The stored row.
    pub row: &'a Row,
    /// What the reader may see.
    pub view: &'a View,
}

impl std::fmt::Debug for RowView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowView")
            .field("stream", &self.binding.stream())
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

impl serde::Serialize for RowView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        use std::borrow::Cow;
        // In name order, as `render_row`'s map holds them, so a push and a reply of the same
        // row are the same bytes.
        let mut visible: Vec<(&str, Cow<'_, Value>)> = self
            .binding
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|n| self.view.can_see(n))
            .map(|n| (n, Cow::Borrowed(self.row.get(n).unwrap_or(&Value::Null))))
            .collect();
        visible.extend(
            visible_computed(self.binding, self.view)
                .map(|c| (c.name(), Cow::Owned(c.value(self.row, self.view.user())))),
        );
        visible.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(visible.len()))?;
        for (name, value) in &visible {
            map.serialize_entry(name, value.as_ref())?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;

    #[test]
    fn only_visible_fields_make_a_visible_change() {
        let b = ModelBinding::new("auth_user")
            .field(Field::string("username"))
            .field(Field::email("email"));
        struct NoEmail;
        impl crate::permission::Permission for NoEmail {
            fn hidden_fields(&self, _: Option<&crate::auth::User>) -> Vec<String> {
                vec!["email".into()]
            }
        }
        let view = View::resolve(
            &crate::binding::Registry::new(),
            &b,
            &NoEmail,
            None,
            "retrieve",
        )
        .unwrap();
        let row = |v: serde_json::Value| v.as_object().unwrap().clone();
        let old = row(serde_json::json!({"id": 1, "username": "a", "email": "a@x", "x": 1}));
        let mail = row(serde_json::json!({"id": 1, "username": "a", "email": "b@x", "x": 2}));
        let name = row(serde_json::json!({"id": 1, "username": "b", "email": "a@x", "x": 1}));
        assert!(!changes_visibly(&b, &old, &mail, &view));
        assert!(changes_visibly(&b, &old, &mail, &View::everything()));
        assert!(changes_visibly(&b, &old, &name, &view));
    }

    #[test]
    fn the_view_serializes_like_the_rendered_row() {
        let b = ModelBinding::new("todo_task")
            .field(Field::string("title"))
            .field(Field::boolean("done"));
        let row = serde_json::json!({"id": 1, "title": "t", "extra": 5});
        let row = row.as_object().unwrap();
        let view = View::everything();
        let direct = serde_json::to_value(RowView {
            binding: &b,
            row,
            view: &view,
        })
        .unwrap();
        assert_eq!(direct, render_row(&b, row, &view));
        let text = serde_json::to_string(&RowView {
            binding: &b,
            row,
            view: &view,
        })
        .unwrap();
        assert_eq!(
            text,
            serde_json::to_string(&render_row(&b, row, &view)).unwrap()
        );
        assert_eq!(
            direct,
            serde_json::json!({"id": 1, "title": "t", "done": null})
        );
    }

    #[test]
    fn computed_fields_render_alike_in_replies_and_pushes() {
        let b = ModelBinding::new("todo_task")
            .field(Field::string("title"))
            .computed(crate::binding::Computed::from_row(
                "loud",
                crate::binding::FieldKind::String,
                |row| serde_json::json!(row["title"].as_str().map(str::to_uppercase)),
            ));
        let row = serde_json::json!({"id": 1, "title": "t"});
        let row = row.as_object().unwrap();
        let view = View::everything();
        let push = serde_json::to_string(&RowView {
            binding: &b,
            row,
            view: &view,
        })
        .unwrap();
        assert_eq!(push, r#"{"id":1,"loud":"T","title":"t"}"#);
        assert_eq!(push, render_row(&b, row, &view).to_string());
    }

    #[test]
    fn an_update_outside_a_computed_fields_dependencies_does_not_compute_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let b = ModelBinding::new("todo_task")
            .field(Field::string("a"))
            .field(Field::string("b"))
            .computed(
                crate::binding::Computed::from_row(
                    "n",
                    crate::binding::FieldKind::Integer,
                    move |_| {
                        counted.fetch_add(1, Ordering::Relaxed);
                        serde_json::json!(1)
                    },
                )
                .depends_on(["a"]),
            );
        let view = View::for_tests(["b"], crate::filter::Filter::everything());
        let row = |v: serde_json::Value| v.as_object().unwrap().clone();
        let old = row(serde_json::json!({"id": 1, "a": "x", "b": "y"}));
        let hidden_b = row(serde_json::json!({"id": 1, "a": "x", "b": "z"}));
        assert!(!changes_visibly(&b, &old, &hidden_b, &view));
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        let new_a = row(serde_json::json!({"id": 1, "a": "w", "b": "y"}));
        assert!(changes_visibly(&b, &old, &new_a, &view), "a is visible");
    }
}
