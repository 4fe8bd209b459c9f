//! A binding's version field (docs/protocol.md section 2, "Version checks"): a field the engine
//! moves on every write, which a write's `if_version` must match for the write to apply.

use super::ModelBinding;
use crate::binding::FieldKind;

/// How a version field moves on every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKind {
    /// An integer: 1 on create, one more on every update (the store adds one in the same
    /// statement, so concurrent writers never hand out one number twice).
    Counter,
    /// A timestamp such as `updated_at`: the time of the write, set by the engine on create and
    /// on every update, in microseconds as PostgreSQL keeps it.
    Timestamp,
}

impl ModelBinding {
    /// Names the binding's version field: an integer field the engine increments on every
    /// write, or a datetime field (such as `updated_at`) it sets to the write's time. The field
    /// becomes read-only to clients; a write carrying `"if_version"` applies only while the
    /// row's version still equals it, and fails with `conflict` otherwise.
    ///
    /// ```
    /// use chanbind_engine::binding::{Field, ModelBinding, VersionKind};
    ///
    /// let tasks = ModelBinding::new("todo_task")
    ///     .field(Field::string("title"))
    ///     .field(Field::integer("version").default(1))
    ///     .version("version");
    /// assert_eq!(tasks.version_kind(), Some(VersionKind::Counter));
    /// assert!(tasks.get("version").is_some_and(|f| f.is_read_only()));
    /// ```
    pub fn version(mut self, field: &str) -> Self {
        self.version = Some(field.to_owned());
        // The field may come later; the registry checks it then.
        let _ = self.seal_version();
        self
    }

    /// The version field's name, when the binding has one.
    pub fn version_name(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// How the version field moves, when the binding has one of a usable kind.
    pub fn version_kind(&self) -> Option<VersionKind> {
        let field = self.get(self.version.as_deref()?)?;
        match field.kind() {
            FieldKind::Integer => Some(VersionKind::Counter),
            FieldKind::Datetime => Some(VersionKind::Timestamp),
            _ => None,
        }
    }

    /// Makes the version field read-only (it may be declared after [`version`](Self::version)),
    /// or says why it cannot be one: the registry refuses such a binding.
    pub(crate) fn seal_version(&mut self) -> Result<(), String> {
        let Some(name) = self.version.clone() else {
            return Ok(());
        };
        if name == super::PK || Some(name.as_str()) == self.key_mirror() {
            return Err(format!("the key {name} cannot be the version field"));
        }
        if self.version_kind().is_none() {
            return Err(format!(
                "the version field {name} must be an integer or datetime field of the binding"
            ));
        }
        if let Some(field) = self.fields.iter_mut().find(|f| f.name == name) {
            field.read_only = true;
        }
        Ok(())
    }
}
