//! Planning an upsert (docs/protocol.md section 2, "Upserts"): a `save` whose key may not
//! exist yet, or a `save` or `create` with `on_conflict`, checked and validated for both
//! actions it may turn out to be, since which one happens is known only once the store wrote.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::job::Write;
use super::request;
use super::Session;
use crate::binding::{KeySource, ModelBinding, PK};
use crate::filter::{Condition, Filter, Lookup, Operand};
use crate::key::Key;
use crate::permission::View;
use crate::protocol::ApiError;
use crate::store::Upsert;
use crate::validate::{validate_write_as, WriteMode};
use crate::value::Row;

/// The request key that asks a `save` of a missing key to create it (`true`) or not.
pub(super) const CREATE: &str = "create";
/// The request key naming the unique field whose value finds the row to update.
pub(super) const ON_CONFLICT: &str = "on_conflict";

/// A validated upsert: the row to create and the columns to update, each as the writer may
/// write them (`None` where its permission refuses that action).
pub(super) struct UpsertWrite {
    /// The field whose value names the row: `id` or a unique field.
    pub(super) target: String,
    /// Its value.
    pub(super) value: Value,
    /// The key, when the target is the key: the row lock to hold.
    pub(super) key: Option<Key>,
    /// The row to create (with the key, for a client key), as `create` validates it.
    pub(super) insert: Option<Row>,
    /// Every writable field, as a `save` with an id replaces them.
    pub(super) update: Option<Row>,
    /// The writer's scope for `create`: a new row must lie inside it.
    pub(super) create_scope: Filter,
    /// The writer's scope for `update`: the row updated must lie inside it.
    pub(super) update_scope: Filter,
    /// The request's fields, for asking the permission about the update once the row it
    /// would update is known (with that row's `id`); `None` when it was asked already (the
    /// key names the row).
    pub(super) ask_update: Option<Map<String, Value>>,
}

impl UpsertWrite {
    /// What hooks see and return: the row to create, or the columns to update when the
    /// writer may not create.
    pub(super) fn values(&self) -> &Row {
        self.insert
            .as_ref()
            .or(self.update.as_ref())
            .expect("an upsert may create or update")
    }

    /// The same upsert with the values a hook returned: the row to create becomes them, and
    /// the update takes every field the hook set or changed (and loses those it removed).
    pub(super) fn with_values(mut self, values: Row) -> UpsertWrite {
        let before = self.values().clone();
        if self.insert.is_some() {
            if let Some(update) = &mut self.update {
                update.retain(|k, _| values.contains_key(k) || !before.contains_key(k));
                for (k, v) in &values {
                    if k != PK && (update.contains_key(k) || before.get(k) != Some(v)) {
                        update.insert(k.clone(), v.clone());
                    }
                }
            }
            self.insert = Some(values);
        } else {
            self.update = Some(values);
        }
        if self.key.is_none() {
            if let Some(value) = self.values().get(&self.target).filter(|v| !v.is_null()) {
                self.value = value.clone();
            }
        }
        self
    }

    /// The store op, updating at most the row `holding` (whose lock the writer holds).
    pub(super) fn op(&self, binding: &Arc<ModelBinding>, holding: Option<Key>) -> Upsert {
        self.op_updating(binding, holding, self.update.clone())
    }

    /// The store op with `update` as the columns to set (`None`: update nothing).
    pub(super) fn op_updating(
        &self,
        binding: &Arc<ModelBinding>,
        holding: Option<Key>,
        update: Option<Row>,
    ) -> Upsert {
        Upsert {
            binding: Arc::clone(binding),
            target: self.target.clone(),
            value: self.value.clone(),
            insert: self.insert.clone(),
            update,
            scope: self.update_scope.clone(),
            holding,
        }
    }

    /// `target = value`: how the row holding the value is looked up.
    pub(super) fn holds(&self, binding: &ModelBinding) -> Filter {
        let kind = binding
            .get(&self.target)
            .unwrap_or(binding.key_field())
            .kind()
            .clone();
        Filter::Cond(Condition {
            path: Vec::new(),
            field: self.target.clone(),
            kind,
            lookup: Lookup::Exact,
            operand: Operand::Value(self.value.clone()),
        })
    }
}

/// Whether the request asks for an upsert in so many words (`on_conflict`, or
/// `"create": true`).
pub(super) fn asks_upsert(data: &Map<String, Value>) -> bool {
    !matches!(data.get(ON_CONFLICT), None | Some(Value::Null))
        || data.get(CREATE) == Some(&Value::Bool(true))
}

/// `data` without the upsert's own keys, which are not fields.
pub(super) fn fields_of<'a>(
    action: &str,
    data: &'a Map<String, Value>,
) -> Cow<'a, Map<String, Value>> {
    let ours = |k: &str| k == ON_CONFLICT || (k == CREATE && action == "save");
    if matches!(action, "save" | "create") && data.keys().any(|k| ours(k)) {
        Cow::Owned(
            data.iter()
                .filter(|(k, _)| !ours(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    } else {
        Cow::Borrowed(data)
    }
}

impl Session {
    /// The upsert `data` asks of `action`, or `None` for a plain write: a `save` with an id
    /// of a binding whose clients give keys (unless `"create": false`), or with
    /// `"create": true`; a `save` or `create` with `"on_conflict"`.
    pub(super) fn upsert_of(
        &self,
        binding: &ModelBinding,
        action: &str,
        data: &Map<String, Value>,
    ) -> Result<Option<Write>, ApiError> {
        if !matches!(action, "save" | "create") {
            return Ok(None);
        }
        let on_conflict = match data.get(ON_CONFLICT) {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.as_str()),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "on_conflict must name a unique field",
                ))
            }
        };
        let create = match action {
            "save" => match data.get(CREATE) {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(ApiError::bad_request("create must be true or false")),
            },
            _ => None,
        };
        let client_keys = binding.key_source_kind() != KeySource::Database;
        let pk = request::opt_pk(binding, data)?;
        let target = match on_conflict {
            Some(name) => self.conflict_target(binding, name, client_keys)?,
            None => match (action, &pk, create) {
                ("save", Some(_), Some(true)) if !client_keys => {
                    return Err(ApiError::bad_request(format!(
                        "create: the database gives {} keys, so a save cannot create a row \
                         under a chosen id; create it without an id, or upsert on a unique \
                         field with on_conflict",
                        binding.stream()
                    )))
                }
                ("save", Some(_), Some(true) | None) if client_keys => PK.to_owned(),
                _ => return Ok(None),
            },
        };
        let key = match (target == PK, pk) {
            (true, Some(pk)) => Some(pk),
            (true, None) => return Err(ApiError::bad_request("id is required")),
            (false, _) => None,
        };
        let data = fields_of(action, data);
        let caller = self.caller();
        let permission = binding.permission_ref();
        let may = |action: &str| caller.allows(permission, action, &data);
        // A field's upsert does not know which row it would update until it looks: the
        // permission is asked then, with that row's `id` (a permission may read it to tell
        // whose row it is), so an `id` the request gives cannot stand for another row.
        let may_create = may("create");
        let may_update = key.is_none() || may("update");
        if !may_create && !may_update {
            return Err(caller.refusal());
        }
        let create_view = self.view(binding, "create")?;
        let update_view = self.view(binding, "update")?;
        let values = |action: &str, mode: WriteMode, view: &View| {
            let mut values = validate_write_as(binding, &data, mode, view)?;
            caller.prepare_write(binding, action, &mut values);
            Ok::<_, ApiError>(values)
        };
        let insert = match may_create {
            true => Some(values("create", WriteMode::Create, &create_view)?),
            false => None,
        };
        let update = match may_update {
            true => Some(values("update", WriteMode::Replace, &update_view)?),
            false => None,
        };
        let value = match &key {
            Some(key) => key.to_json(),
            None => insert
                .as_ref()
                .or(update.as_ref())
                .and_then(|v| v.get(&target))
                .filter(|v| !v.is_null())
                .cloned()
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "on_conflict is {target}, so the write must give {target}"
                    ))
                })?,
        };
        let ask_update = key.is_none().then(|| data.as_ref().clone());
        Ok(Some(Write::Upsert(Box::new(UpsertWrite {
            target,
            value,
            key,
            insert,
            update,
            create_scope: create_view.scope().clone(),
            update_scope: update_view.scope().clone(),
            ask_update,
        }))))
    }

    /// The field `on_conflict` names: the key (for a binding whose clients give keys) or a
    /// unique field the writer sees.
    fn conflict_target(
        &self,
        binding: &ModelBinding,
        name: &str,
        client_keys: bool,
    ) -> Result<String, ApiError> {
        let stream = binding.stream();
        if name == PK || Some(name) == binding.key_mirror() {
            return match client_keys {
                true => Ok(PK.to_owned()),
                false => Err(ApiError::bad_request(format!(
                    "on_conflict: the database gives {stream} keys; name a unique field"
                ))),
            };
        }
        let seen = self.view(binding, "create")?.can_see(name);
        match binding.get(name) {
            Some(field) if seen && field.is_unique() => Ok(name.to_owned()),
            Some(_) if seen => Err(ApiError::bad_request(format!(
                "on_conflict: {name} is not a unique field of {stream}"
            ))),
            _ => Err(ApiError::bad_request(format!(
                "on_conflict: {stream} has no field {name}"
            ))),
        }
    }
}
