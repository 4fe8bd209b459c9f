//! Whose rights a request runs with: a connection's user (or nobody), or the system.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{refusal, Access, Permission, View};
use crate::auth::User;
use crate::binding::{ModelBinding, Registry};
use crate::protocol::ApiError;
use crate::value::Row;

/// The rights a request runs with, asked in place of a binding's [`Permission`] wherever the
/// pipeline decides something.
///
/// A connection is always [`Caller::User`]. [`Caller::System`] is application code writing
/// through [`crate::app`] with every right: each permission check passes, no row scope
/// applies, no field is hidden or read-only by permission, and
/// [`Permission::prepare_write`] is not called (it adjusts what a *user* writes). Validation
/// and the binding's own read-only fields still apply.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A signed-in user, or `None` for an anonymous connection.
    User(Option<&'a User>),
    /// Application code with every right.
    System,
}

impl<'a> Caller<'a> {
    /// The user, if the caller is one.
    pub fn user(&self) -> Option<&'a User> {
        match self {
            Caller::User(user) => *user,
            Caller::System => None,
        }
    }

    /// Whether the caller is the system.
    pub fn is_system(&self) -> bool {
        matches!(self, Caller::System)
    }

    /// Whether `permission` lets the caller run `action` with `data`.
    pub fn allows(
        &self,
        permission: &dyn Permission,
        action: &str,
        data: &Map<String, Value>,
    ) -> bool {
        match self {
            Caller::User(user) => permission.allows(&Access {
                user: *user,
                action,
                data,
            }),
            Caller::System => true,
        }
    }

    /// What the caller sees and writes of `binding` for `action` (see [`View::resolve`]); the
    /// system sees everything.
    pub fn view(
        &self,
        registry: &Registry,
        binding: &ModelBinding,
        action: &str,
    ) -> Result<Arc<View>, ApiError> {
        match self {
            Caller::User(user) => {
                View::resolve(registry, binding, binding.permission_ref(), *user, action)
            }
            Caller::System => Ok(View::everything()),
        }
    }

    /// Lets the binding's permission adjust a user's validated values; nothing for the system.
    pub fn prepare_write(&self, binding: &ModelBinding, action: &str, values: &mut Row) {
        if let Caller::User(user) = self {
            binding
                .permission_ref()
                .prepare_write(*user, action, values);
        }
    }

    /// The error of a refused request (never the system's).
    pub fn refusal(&self) -> ApiError {
        refusal(self.user())
    }
}
