//! The set of bindings a server answers, checked once when it is built.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::relations::{self, Derived};
use super::{CustomBinding, FieldKind, Handler, ModelBinding};
use crate::relation::Relation;

/// Why a set of bindings was refused. These are programming errors, reported at start-up
/// rather than at the first request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two bindings claim one stream.
    #[error("stream {0} is bound twice")]
    DuplicateStream(String),
    /// A schema, table, column or field name PostgreSQL cannot hold (empty, longer than 63
    /// bytes, or with a NUL), or a field name with `__`, which separates lookups.
    #[error("{0:?} is not a usable SQL identifier or field name")]
    BadIdentifier(String),
    /// The primary key is of a kind that cannot be a key.
    #[error("{stream}: the key {field} must be an integer, uuid, string or text field")]
    BadKey {
        /// The binding.
        stream: String,
        /// The key column.
        field: String,
    },
    /// A search field does not exist or is not textual.
    #[error("{stream}: search field {field} does not exist or is not a string")]
    BadSearchField {
        /// The binding.
        stream: String,
        /// The field.
        field: String,
    },
    /// A field's kind cannot be stored: an array of JSON, of arrays or of foreign keys, or an
    /// enum type with an empty or over-long name.
    #[error("{stream}.{field}: {why}")]
    BadKind {
        /// The binding.
        stream: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A custom handler claims an action a model binding answers itself.
    #[error("{stream}.{action} is a built-in action and cannot have a custom handler")]
    ReservedAction {
        /// The binding.
        stream: String,
        /// The action.
        action: String,
    },
    /// A wrapper names an action that is not one of the write actions it may replace.
    #[error("{stream}.{action} cannot be wrapped: only create, update, save and delete can")]
    NotAWrite {
        /// The binding.
        stream: String,
        /// The action.
        action: String,
    },
    /// The version field ([`ModelBinding::version`]) is missing, the key, or neither an
    /// integer nor a datetime field.
    #[error("{stream}: {message}")]
    BadVersion {
        /// The binding.
        stream: String,
        /// What is wrong.
        message: String,
    },
    /// A foreign key names a stream no binding serves.
    #[error("{stream}.{field} points to unknown stream {target}")]
    UnknownForeignStream {
        /// The binding.
        stream: String,
        /// The field.
        field: String,
        /// The missing stream.
        target: String,
    },
    /// A relation name chosen with `relation()` or `include_as()` names no foreign key, or
    /// clashes with a field or another relation of the binding.
    #[error("{stream}: {message}")]
    BadRelation {
        /// The binding.
        stream: String,
        /// What is wrong.
        message: String,
    },
    /// A computed field's name is taken by a field, or it depends on or orders by what is no
    /// field of the binding.
    #[error("{stream}: computed field {field}: {message}")]
    BadComputed {
        /// The binding.
        stream: String,
        /// The computed field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Every binding of a server, by stream.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    models: BTreeMap<String, Arc<ModelBinding>>,
    customs: BTreeMap<String, Arc<CustomBinding>>,
    /// Every binding's relations, derived again whenever a binding is added.
    relations: Derived,
}

/// The actions every model binding answers itself.
pub const BUILT_IN_ACTIONS: &[&str] = &[
    "retrieve",
    "search",
    "list",
    "create",
    "update",
    "save",
    "delete",
    "form",
    "subscribe",
    "unsubscribe",
];

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a model binding.
    pub fn model(mut self, binding: ModelBinding) -> Result<Self, RegistryError> {
        check_identifier(binding.table())?;
        if let Some(schema) = binding.schema_name() {
            check_identifier(schema)?;
        }
        for field in binding.fields() {
            check_identifier(field.column_name())?;
            check_field_name(field.name())?;
            check_kind(field.kind()).map_err(|why| RegistryError::BadKind {
                stream: binding.stream().to_owned(),
                field: field.name().to_owned(),
                why,
            })?;
        }
        for computed in binding.computed_fields() {
            check_field_name(computed.name())?;
            if let Some(message) = computed.problem(&binding) {
                return Err(RegistryError::BadComputed {
                    stream: binding.stream().to_owned(),
                    field: computed.name().to_owned(),
                    message,
                });
            }
        }
        if crate::key::KeyKind::of(binding.key_field().kind()).is_none() {
            return Err(RegistryError::BadKey {
                stream: binding.stream().to_owned(),
                field: binding.key_field().column_name().to_owned(),
            });
        }
        for name in binding.search_names() {
            if !binding.get(name).is_some_and(|f| f.kind().is_textual()) {
                return Err(RegistryError::BadSearchField {
                    stream: binding.stream().to_owned(),
                    field: name.clone(),
                });
            }
        }
        for action in binding.handlers().actions() {
            if BUILT_IN_ACTIONS.contains(&action) {
                return Err(RegistryError::ReservedAction {
                    stream: binding.stream().to_owned(),
                    action: action.to_owned(),
                });
            }
        }
        if let Some(action) = binding
            .hooks()
            .wrapped_actions()
            .find(|a| !super::WRITE_ACTIONS.contains(a))
        {
            return Err(RegistryError::NotAWrite {
                stream: binding.stream().to_owned(),
                action: action.to_owned(),
            });
        }
        let mut binding = binding;
        binding
            .seal_version()
            .map_err(|message| RegistryError::BadVersion {
                stream: binding.stream().to_owned(),
                message,
            })?;
        let stream = self.claim(binding.stream())?;
        for target in self.models.values() {
            binding.resolve_foreign_keys(target.stream(), target.key_kind());
        }
        binding.resolve_foreign_keys(&stream, binding.key_kind());
        let kind = binding.key_kind();
        for other in self.models.values_mut() {
            Arc::make_mut(other).resolve_foreign_keys(&stream, kind);
        }
        self.models.insert(stream, Arc::new(binding));
        self.relations = relations::derive(&self.models);
        Ok(self)
    }

    /// Adds a stream of custom events only.
    pub fn custom(mut self, binding: CustomBinding) -> Result<Self, RegistryError> {
        let stream = self.claim(binding.stream())?;
        self.customs.insert(stream, Arc::new(binding));
        Ok(self)
    }

    fn claim(&self, stream: &str) -> Result<String, RegistryError> {
        if self.models.contains_key(stream) || self.customs.contains_key(stream) {
            return Err(RegistryError::DuplicateStream(stream.to_owned()));
        }
        Ok(stream.to_owned())
    }

    /// The custom handler of `<stream>.<action>`, from a model or a custom binding.
    pub fn handler(&self, stream: &str, action: &str) -> Option<Arc<dyn Handler>> {
        let handlers = match self.models.get(stream) {
            Some(model) => model.handlers(),
            None => self.customs.get(stream)?.handlers(),
        };
        handlers.get(action).cloned()
    }

    /// The permission of `stream`'s binding, model or custom.
    pub fn permission(&self, stream: &str) -> Option<&dyn crate::permission::Permission> {
        match self.models.get(stream) {
            Some(model) => Some(model.permission_ref()),
            None => self.customs.get(stream).map(|c| c.permission_ref()),
        }
    }

    /// The foreign keys pointing at `stream` that a delete there changes (`set null` and
    /// `cascade`), in stream order.
    pub fn referrers(&self, stream: &str) -> Vec<crate::store::Referrer> {
        self.models
            .values()
            .flat_map(|b| {
                b.foreign_keys()
                    .filter(move |(f, target)| {
                        *target == stream && f.delete_rule() != super::OnDelete::Restrict
                    })
                    .map(move |(f, _)| crate::store::Referrer {
                        binding: Arc::clone(b),
                        field: f.name().to_owned(),
                        rule: f.delete_rule(),
                    })
            })
            .collect()
    }

    /// The custom binding serving `stream`.
    pub fn custom_binding(&self, stream: &str) -> Option<&Arc<CustomBinding>> {
        self.customs.get(stream)
    }

    /// Every custom binding, in stream order.
    pub fn customs(&self) -> impl Iterator<Item = &Arc<CustomBinding>> {
        self.customs.values()
    }

    /// Whether a binding of either kind serves `stream`.
    pub fn has_stream(&self, stream: &str) -> bool {
        self.models.contains_key(stream) || self.customs.contains_key(stream)
    }

    /// Every stream, models and custom ones.
    pub fn streams(&self) -> impl Iterator<Item = &str> {
        self.models
            .keys()
            .chain(self.customs.keys())
            .map(String::as_str)
    }

    /// The relation `name` of `stream`'s binding (docs/protocol.md section 2).
    pub fn relation(&self, stream: &str, name: &str) -> Option<&Relation> {
        self.relations(stream).iter().find(|r| r.name == name)
    }

    /// Every relation of `stream`'s binding: its to-one relations, then its to-many ones.
    pub fn relations(&self, stream: &str) -> &[Relation] {
        self.relations
            .by_stream
            .get(stream)
            .map_or(&[], Vec::as_slice)
    }

    /// Checks what can only be checked once every binding is in: that foreign keys point to
    /// bound streams, and that chosen relation names name foreign keys and clash with
    /// nothing. Servers call this when they start; default relation names that could not be
    /// given (a field has them) are logged here.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if let Some(e) = self.relations.errors.first() {
            return Err(e.clone());
        }
        for dropped in &self.relations.dropped {
            tracing::warn!("{dropped}");
        }
        for binding in self.models.values() {
            for (field, target) in binding.foreign_keys() {
                if !self.models.contains_key(target) {
                    return Err(RegistryError::UnknownForeignStream {
                        stream: binding.stream().to_owned(),
                        field: field.name().to_owned(),
                        target: target.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The binding serving `stream`.
    pub fn get(&self, stream: &str) -> Option<&Arc<ModelBinding>> {
        self.models.get(stream)
    }

    /// Every model binding, in stream order.
    pub fn models(&self) -> impl Iterator<Item = &Arc<ModelBinding>> {
        self.models.values()
    }

    /// The bindings in an order where every foreign key's target comes before the field's
    /// binding, so tables can be created in that order.
    pub fn models_by_dependency(&self) -> Vec<Arc<ModelBinding>> {
        let mut done: Vec<Arc<ModelBinding>> = Vec::new();
        let mut pending: Vec<&Arc<ModelBinding>> = self.models.values().collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|b| {
                let ready = b.foreign_keys().all(|(_, target)| {
                    target == b.stream() || done.iter().any(|d| d.stream() == target)
                });
                if ready {
                    done.push(Arc::clone(b));
                }
                !ready
            });
            if pending.len() == before {
                // A cycle: the rest go in stream order; their tables' foreign keys then need
                // deferred creation, which the DDL handles by adding constraints afterwards.
                done.extend(pending.drain(..).cloned());
            }
        }
        done
    }
}

fn check_kind(kind: &FieldKind) -> Result<(), &'static str> {
    match kind {
        FieldKind::Array(element) if !element.is_array_element() => {
            Err("arrays hold scalars only: not JSON, arrays or foreign keys")
        }
        FieldKind::Array(element) => check_kind(element),
        FieldKind::Enum(t) if !t.is_valid() => {
            Err("an enum type's schema and name must be 1 to 63 bytes without NUL")
        }
        _ => Ok(()),
    }
}

/// Any name PostgreSQL can hold: every identifier is double-quoted wherever it is spliced,
/// so mixed case, spaces and quotes are all safe.
fn check_identifier(name: &str) -> Result<(), RegistryError> {
    if !name.is_empty() && name.len() <= 63 && !name.contains('\0') {
        Ok(())
    } else {
        Err(RegistryError::BadIdentifier(name.to_owned()))
    }
}

/// A field name is also a filter key's first part, so it may not contain the `__` that
/// separates a lookup, and it is a JSON key clients type, so no control characters.
fn check_field_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.contains("__") && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadIdentifier(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;

    #[test]
    fn refuses_unsafe_identifiers_and_bad_search_fields() {
        let bad = ModelBinding::new("a_b").field(Field::string("x__y"));
        assert!(matches!(
            Registry::new().model(bad),
            Err(RegistryError::BadIdentifier(_))
        ));
        let bad = ModelBinding::new("a_b")
            .field(Field::integer("n"))
            .search(["n"]);
        assert!(matches!(
            Registry::new().model(bad),
            Err(RegistryError::BadSearchField { .. })
        ));
    }

    #[test]
    fn orders_tables_by_their_foreign_keys() {
        let reg = Registry::new()
            .model(
                ModelBinding::new("todo_task").field(Field::foreign_key("owner_id", "auth.User")),
            )
            .unwrap()
            .model(ModelBinding::new("auth_user"))
            .unwrap();
        reg.validate().unwrap();
        let order: Vec<_> = reg
            .models_by_dependency()
            .iter()
            .map(|b| b.table().to_owned())
            .collect();
        assert_eq!(order, ["auth_user", "todo_task"]);
    }

    fn library() -> Registry {
        Registry::new()
            .model(ModelBinding::new("auth_user"))
            .unwrap()
            .model(
                ModelBinding::new("todo_task")
                    .field(Field::foreign_key("owner_id", "auth.User"))
                    .field(Field::foreign_key("reviewer_id", "auth.User"))
                    .field(Field::foreign_key("parent", "todo.Task")),
            )
            .unwrap()
            .model(
                ModelBinding::new("todo_comment")
                    .field(Field::foreign_key("task_id", "todo.Task"))
                    // A field named like the default relation hides it.
                    .field(Field::string("task")),
            )
            .unwrap()
    }

    fn names(reg: &Registry, stream: &str) -> Vec<(String, bool, String)> {
        reg.relations(stream)
            .iter()
            .map(|r| (r.name.clone(), r.is_to_one(), r.target.stream().to_owned()))
            .collect()
    }

    #[test]
    fn relations_are_derived_from_foreign_keys_both_ways() {
        let reg = library();
        reg.validate().unwrap();
        let n = |name: &str, one: bool, target: &str| (name.to_owned(), one, target.to_owned());
        assert_eq!(
            names(&reg, "todo.Task"),
            [
                n("owner", true, "auth.User"),
                n("reviewer", true, "auth.User"),
                n("parent_rel", true, "todo.Task"),
                n("comments", false, "todo.Comment"),
                n("tasks", false, "todo.Task"),
            ]
        );
        assert_eq!(
            names(&reg, "auth.User"),
            [
                n("owner_tasks", false, "todo.Task"),
                n("reviewer_tasks", false, "todo.Task")
            ]
        );
        assert_eq!(names(&reg, "todo.Comment"), []);
        assert!(reg.relation("todo.Task", "comments").is_some());
        assert!(reg.relation("todo.Task", "title").is_none());
    }

    #[test]
    fn relations_can_be_renamed_and_bad_names_are_refused() {
        let reg = library()
            .model(
                ModelBinding::new("x_note")
                    .field(Field::foreign_key("task_id", "todo.Task"))
                    .relation("task_id", "about"),
            )
            .unwrap();
        assert!(reg.relation("x.Note", "about").is_some());
        assert!(reg.relation("todo.Task", "notes").is_some());
        let clash = Registry::new()
            .model(
                ModelBinding::new("auth_user")
                    .field(Field::string("name"))
                    .field(Field::foreign_key("boss_id", "auth.User"))
                    .relation("boss_id", "name"),
            )
            .unwrap();
        assert!(matches!(
            clash.validate(),
            Err(RegistryError::BadRelation { .. })
        ));
        let unknown = Registry::new()
            .model(ModelBinding::new("auth_user").include_as("todo.Task", "owner_id", "mine"))
            .unwrap();
        let err = unknown.validate().unwrap_err();
        assert!(err.to_string().contains("todo.Task.owner_id"), "{err}");
    }

    #[test]
    fn arrays_of_non_scalars_and_bad_enum_names_are_refused() {
        use crate::binding::EnumType;
        for (field, why) in [
            (
                Field::array("a", FieldKind::Array(Box::new(FieldKind::Integer))),
                "arrays hold scalars only",
            ),
            (
                Field::array("a", FieldKind::Json),
                "arrays hold scalars only",
            ),
            (
                Field::enumeration("a", EnumType::new(None, &"m".repeat(64)), ["x"]),
                "1 to 63 bytes",
            ),
            (
                Field::array("a", FieldKind::Enum(EnumType::new(Some(""), "m"))),
                "1 to 63 bytes",
            ),
        ] {
            let e = Registry::new()
                .model(ModelBinding::new("t").field(field))
                .unwrap_err();
            assert!(matches!(e, RegistryError::BadKind { .. }), "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
        let ok = Field::enumeration("a", EnumType::new(None, &"m".repeat(63)), ["x"]);
        assert!(Registry::new()
            .model(ModelBinding::new("t").field(ok))
            .is_ok());
    }

    #[test]
    fn dangling_foreign_keys_are_refused() {
        let reg = Registry::new()
            .model(
                ModelBinding::new("todo_task").field(Field::foreign_key("owner_id", "auth.User")),
            )
            .unwrap();
        assert!(matches!(
            reg.validate(),
            Err(RegistryError::UnknownForeignStream { .. })
        ));
    }
}
