//! Relations between bindings, derived from their foreign keys (docs/protocol.md section 2).
//!
//! Every foreign key field gives its binding a to-one relation to the row it points at, named
//! after the field without `_id` (`owner_id` gives `owner`; a field without the suffix names
//! the relation itself). [`ModelBinding::rename_relation`] renames one. Filters and `order`
//! follow to-one relations (`owner__username`); reads expand them. The [`Registry`] resolves a
//! name, since only it knows every binding.

use std::sync::Arc;

use crate::binding::{ModelBinding, Registry};

/// A named way from a row of one binding to rows of another.
#[derive(Debug, Clone)]
pub struct Relation {
    /// The relation's name, as requests spell it.
    pub name: String,
    /// Which rows it leads to.
    pub kind: RelationKind,
    /// The binding of the rows it leads to.
    pub target: Arc<ModelBinding>,
}

/// How a relation finds its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationKind {
    /// The one row the foreign key `field` of this binding points at (none when it is null).
    ToOne {
        /// The foreign key field.
        field: String,
    },
    /// The rows of `stream` whose foreign key `field` points at this row.
    ToMany {
        /// The referring stream.
        stream: String,
        /// Its foreign key field.
        field: String,
    },
}

/// The default name of the to-one relation of the foreign key `field`.
pub fn to_one_name(field: &str) -> &str {
    field
        .strip_suffix("_id")
        .filter(|name| !name.is_empty())
        .unwrap_or(field)
}

impl Registry {
    /// The to-one relations of `stream`, one per foreign key, in field order.
    pub fn relations(&self, stream: &str) -> Vec<Relation> {
        let Some(binding) = self.get(stream) else {
            return Vec::new();
        };
        binding
            .foreign_keys()
            .filter_map(|(field, target)| {
                Some(Relation {
                    name: binding.relation_name(to_one_name(field.name())).to_owned(),
                    kind: RelationKind::ToOne {
                        field: field.name().to_owned(),
                    },
                    target: Arc::clone(self.get(target)?),
                })
            })
            .collect()
    }

    /// The relation of `stream` called `name`.
    pub fn relation(&self, stream: &str, name: &str) -> Option<Relation> {
        self.relations(stream).into_iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;

    fn registry() -> Registry {
        Registry::new()
            .model(ModelBinding::new("auth_user").field(Field::string("username")))
            .unwrap()
            .model(
                ModelBinding::new("todo_task")
                    .field(Field::foreign_key("owner_id", "auth.User"))
                    .field(Field::foreign_key("reviewer", "auth.User"))
                    .field(Field::foreign_key("parent_id", "todo.Task"))
                    .rename_relation("parent", "up"),
            )
            .unwrap()
    }

    #[test]
    fn each_foreign_key_names_a_to_one_relation() {
        let reg = registry();
        let owner = reg.relation("todo.Task", "owner").expect("owner");
        assert_eq!(
            owner.kind,
            RelationKind::ToOne {
                field: "owner_id".into()
            }
        );
        assert_eq!(owner.target.stream(), "auth.User");
        assert!(reg.relation("todo.Task", "reviewer").is_some());
        assert_eq!(
            reg.relation("todo.Task", "up")
                .map(|r| r.target.stream().to_owned()),
            Some("todo.Task".to_owned())
        );
        assert!(reg.relation("todo.Task", "parent").is_none(), "renamed");
        assert!(reg.relation("todo.Task", "owner_id").is_none());
        assert!(reg.relation("auth.User", "owner").is_none());
        assert!(reg.relation("nope", "owner").is_none());
        assert_eq!(to_one_name("_id"), "_id");
    }
}
