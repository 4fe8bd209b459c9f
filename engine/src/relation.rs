//! Relations between bindings, derived from their foreign keys (docs/protocol.md section 2).
//!
//! Every foreign key makes two relations: a to-one relation on the binding that holds it (a
//! task's `owner`, from `owner_id`), and a to-many relation on the binding it points at (a
//! user's `tasks`). The [`Registry`](crate::binding::Registry) derives them once every binding
//! is in ([`Registry::relation`](crate::binding::Registry::relation)); reads expand and include
//! them, and filters and orders may cross them.
//!
//! Default names:
//!
//! - to-one: the field without its `_id` suffix (`owner_id` is `owner`), or without `_` and
//!   the target's key column (`book_isbn` into a binding keyed by `isbn` is `book`); any other
//!   field gives `<field>_rel`, since the relation may not take the field's own name;
//! - to-many: the referring stream's model name in snake case, plural (`todo.Comment` gives
//!   `comments`, `shop.OrderItem` gives `order_items`, `items` stays `items`); when that binding has several foreign
//!   keys to this one, each is told apart by its to-one name (`owner_tasks`, `reviewer_tasks`).
//!
//! [`ModelBinding::relation`](crate::binding::ModelBinding::relation) and
//! [`ModelBinding::include_as`](crate::binding::ModelBinding::include_as) rename them. A
//! default name taken by a field or another relation is not offered (rename it to use it);
//! a chosen name that clashes stops the registry.

use std::sync::Arc;

use crate::binding::ModelBinding;

/// How a relation finds its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationKind {
    /// The foreign key `field` of this binding holds the key of one target row.
    ToOne {
        /// The foreign key field, on this binding.
        field: String,
    },
    /// The target rows whose foreign key `field` holds this row's key.
    ToMany {
        /// The foreign key field, on the target binding.
        field: String,
    },
}

/// One relation of a binding.
#[derive(Debug, Clone)]
pub struct Relation {
    /// Its name in requests and in rows.
    pub name: String,
    /// How its rows are found.
    pub kind: RelationKind,
    /// The binding its rows belong to.
    pub target: Arc<ModelBinding>,
}

impl Relation {
    /// Whether it is a to-one relation.
    pub fn is_to_one(&self) -> bool {
        matches!(self.kind, RelationKind::ToOne { .. })
    }
}

/// The default to-one name of the foreign key `field` into a binding whose key column is
/// `target_key`: the field without `_id`, or without `_<target_key>` (`book_isbn` into a
/// binding keyed by `isbn` is `book`), else `<field>_rel`.
pub(crate) fn to_one_name(field: &str, target_key: &str) -> String {
    let stem = field
        .strip_suffix("_id")
        .or_else(|| field.strip_suffix(target_key)?.strip_suffix('_'));
    match stem {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => format!("{field}_rel"),
    }
}

/// The default to-many name for the rows of `stream` (`todo.Comment` is `comments`).
pub(crate) fn to_many_name(stream: &str) -> String {
    let model = stream.rsplit('.').next().unwrap_or(stream);
    plural(&snake(model))
}

/// `OrderItem` becomes `order_item`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// English plural of a snake-case word, the common rules only (`box` boxes, `story` stories);
/// a word that already looks plural (`items`, not `status` or `class`) is kept.
fn plural(word: &str) -> String {
    let looks_plural = word.ends_with('s') && !["ss", "us", "is"].iter().any(|s| word.ends_with(s));
    if looks_plural {
        return word.to_owned();
    }
    let consonant_y = word.strip_suffix('y').is_some_and(|stem| {
        stem.chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphabetic() && !"aeiou".contains(c))
    });
    if consonant_y {
        format!("{}ies", &word[..word.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|s| word.ends_with(s))
    {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        assert_eq!(to_one_name("owner_id", "id"), "owner");
        assert_eq!(to_one_name("book_isbn", "isbn"), "book");
        assert_eq!(to_one_name("isbn", "isbn"), "isbn_rel");
        assert_eq!(to_one_name("author", "id"), "author_rel");
        assert_eq!(to_one_name("_id", "id"), "_id_rel");
        assert_eq!(to_many_name("todo.Comment"), "comments");
        assert_eq!(to_many_name("shop.OrderItem"), "order_items");
        assert_eq!(to_many_name("library.Box"), "boxes");
        assert_eq!(to_many_name("blog.Story"), "stories");
        assert_eq!(to_many_name("blog.Day"), "days");
        assert_eq!(to_many_name("items"), "items");
        assert_eq!(to_many_name("app.Status"), "statuses");
    }
}
