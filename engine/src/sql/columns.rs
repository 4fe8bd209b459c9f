//! From field names to column names: filters and orders name fields, as clients do, and the
//! statements name columns. The two differ for the primary key (rows carry it as `id`) and
//! for fields declared with [`crate::binding::Field::column`]. Along a relation path each
//! name is a column of the binding it belongs to: a foreign key of the binding the hop leaves,
//! the last field and the hop's scope of the binding it reaches.

use std::borrow::Cow;

use crate::binding::ModelBinding;
use crate::filter::{Filter, Hop, Ordering};

/// The filter with each condition's field replaced by its column; borrowed unchanged when
/// every field it names is its own column, as on most bindings.
pub(crate) fn filter<'a>(binding: &ModelBinding, filter: &'a Filter) -> Cow<'a, Filter> {
    if names_only_own_columns(binding, filter) {
        return Cow::Borrowed(filter);
    }
    Cow::Owned(rename(binding, filter))
}

/// The order with each key's field replaced by its column.
pub(crate) fn order<'a>(binding: &ModelBinding, order: &'a Ordering) -> Cow<'a, Ordering> {
    if order
        .keys()
        .iter()
        .all(|k| k.path.is_empty() && column_of(binding, &k.field) == k.field)
    {
        return Cow::Borrowed(order);
    }
    let mut renamed = order.clone();
    for key in renamed.keys_mut() {
        let last = rename_path(binding, &mut key.path);
        key.field = column_of(last.as_deref().unwrap_or(binding), &key.field).to_owned();
    }
    Cow::Owned(renamed)
}

/// Renames each hop's foreign key and scope; returns the binding the path ends at, `None` for
/// an empty path.
fn rename_path(binding: &ModelBinding, path: &mut [Hop]) -> Option<std::sync::Arc<ModelBinding>> {
    let mut from: Option<std::sync::Arc<ModelBinding>> = None;
    for hop in path.iter_mut() {
        let source = from.as_deref().unwrap_or(binding);
        hop.field = column_of(source, &hop.field).to_owned();
        hop.scope = rename(&hop.target, &hop.scope);
        from = Some(std::sync::Arc::clone(&hop.target));
    }
    from
}

fn column_of<'a>(binding: &'a ModelBinding, field: &'a str) -> &'a str {
    binding.get(field).map_or(field, |f| f.column_name())
}

fn names_only_own_columns(binding: &ModelBinding, filter: &Filter) -> bool {
    match filter {
        Filter::All(parts) | Filter::Any(parts) => {
            parts.iter().all(|p| names_only_own_columns(binding, p))
        }
        Filter::Not(inner) => names_only_own_columns(binding, inner),
        Filter::Cond(c) => c.path.is_empty() && column_of(binding, &c.field) == c.field,
    }
}

fn rename(binding: &ModelBinding, filter: &Filter) -> Filter {
    match filter {
        Filter::All(parts) => Filter::All(parts.iter().map(|p| rename(binding, p)).collect()),
        Filter::Any(parts) => Filter::Any(parts.iter().map(|p| rename(binding, p)).collect()),
        Filter::Not(inner) => Filter::Not(Box::new(rename(binding, inner))),
        Filter::Cond(c) => {
            let mut c = c.clone();
            let last = rename_path(binding, &mut c.path);
            c.field = column_of(last.as_deref().unwrap_or(binding), &c.field).to_owned();
            Filter::Cond(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::filter::parse_filter;
    use serde_json::json;

    #[test]
    fn the_key_is_its_column_inside_groups_and_orders() {
        let books = ModelBinding::new("library_book")
            .key(Field::string("isbn"))
            .field(Field::string("title").column("Title"));
        let filters = json!({"or": [{"not": {"id": "x"}}, {"title": "y"}]});
        let filter = parse_filter(&books, filters.as_object().unwrap(), None, 10).unwrap();
        let Cow::Owned(renamed) = super::filter(&books, &filter) else {
            panic!("the key and Title are not their fields' names")
        };
        let text = format!("{renamed:?}");
        assert!(
            text.contains("\"isbn\"") && text.contains("\"Title\""),
            "{text}"
        );
        assert!(!text.contains("field: \"id\""), "{text}");
        let order = Ordering::parse(&books, Some(&json!("-title"))).unwrap();
        let names: Vec<String> = super::order(&books, &order)
            .keys()
            .iter()
            .map(|k| k.field.clone())
            .collect();
        assert_eq!(names, ["Title", "isbn"]);
        // A binding whose fields are their columns costs no copy.
        let plain = ModelBinding::new("t").field(Field::string("a"));
        let f = parse_filter(&plain, json!({"a": "b"}).as_object().unwrap(), None, 1).unwrap();
        assert!(matches!(super::filter(&plain, &f), Cow::Borrowed(_)));
    }
}
