//! The permission pipeline of docs/protocol.md section 4, one definition for both adapters, both
//! transports, pushes and custom events.
//!
//! A binding's [`Permission`] decides, for a user and an action, whether the request may run,
//! which rows it may touch (the row scope: a Django-style filter ANDed into every read, write,
//! subscription and push), which fields the user never sees, and which fields the user may not
//! write. The session turns those answers into a [`View`] per request; replies and pushes are
//! rendered through the view, so nothing hidden ever leaves the engine.
//!
//! ```
//! use chanbind_engine::auth::User;
//! use chanbind_engine::permission::{Access, Permission};
//! use serde_json::{json, Map, Value};
//!
//! /// Signed-in users see and change their own tasks only.
//! struct OwnTasks;
//!
//! impl Permission for OwnTasks {
//!     fn allows(&self, access: &Access<'_>) -> bool {
//!         access.user.is_some()
//!     }
//!     fn scope(&self, user: Option<&User>, _action: &str) -> Option<Map<String, Value>> {
//!         let id = user.map_or(-1, |u| u.id);
//!         json!({"owner_id": id}).as_object().cloned()
//!     }
//! }
//! ```

mod caller;

pub use caller::Caller;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::auth::User;
use crate::binding::{ModelBinding, Registry};
use crate::filter::{parse_scope, Filter};
use crate::protocol::{ApiError, ErrorCode};
use crate::value::Row;

/// What a permission sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The connection's user, `None` when anonymous.
    pub user: Option<&'a User>,
    /// The action (`retrieve`, `update`, a custom event's name, ...).
    pub action: &'a str,
    /// The request's `data`.
    pub data: &'a Map<String, Value>,
}

/// A binding's permissions. Every method has a permissive default, so a permission states
/// only what it restricts.
pub trait Permission: Send + Sync + 'static {
    /// Whether the request may run at all. A refusal is `unauthenticated` for an anonymous
    /// connection and `permission_denied` for a signed-in one.
    fn allows(&self, access: &Access<'_>) -> bool {
        let _ = access;
        true
    }

    /// The rows this user may touch with this action, as `filters` (`{"owner_id": 7}`);
    /// `None` for every row. Rows outside are `not_found`, never `permission_denied`. The
    /// filters may follow relations to any field of the related binding
    /// (`{"project__owner_id": 7}`: the tasks of projects the user owns), whatever that
    /// binding's own permission says; pushes re-check such a scope through the store.
    fn scope(&self, user: Option<&User>, action: &str) -> Option<Map<String, Value>> {
        let _ = (user, action);
        None
    }

    /// Fields this user never sees: left out of rows, refused in filters and `order`.
    fn hidden_fields(&self, user: Option<&User>) -> Vec<String> {
        let _ = user;
        Vec::new()
    }

    /// Fields this user may not write, beyond the binding's read-only ones; ignored on write.
    fn read_only_fields(&self, user: Option<&User>) -> Vec<String> {
        let _ = user;
        Vec::new()
    }

    /// Adjusts validated values before a create or update (set `owner_id` from the user, say).
    fn prepare_write(&self, user: Option<&User>, action: &str, values: &mut Row) {
        let _ = (user, action, values);
    }
}

/// Everyone may do everything: the default of every binding.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Permission for AllowAll {}

/// A binding's permission, shared by every request and subscription of the binding.
#[derive(Clone)]
pub struct SharedPermission(pub Arc<dyn Permission>);

impl Default for SharedPermission {
    fn default() -> Self {
        SharedPermission(Arc::new(AllowAll))
    }
}

impl std::fmt::Debug for SharedPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permission")
    }
}

/// The error for a refused request: `unauthenticated` when anonymous.
pub fn refusal(user: Option<&User>) -> ApiError {
    match user {
        None => ApiError::new(ErrorCode::Unauthenticated, "sign in to do this"),
        Some(_) => ApiError::new(ErrorCode::PermissionDenied, "you may not do this"),
    }
}

/// What one user may see and write of one binding for one action: the answers of its
/// permission, resolved once per request and carried by its subscriptions.
#[derive(Debug, Clone)]
pub struct View {
    hidden: BTreeSet<String>,
    read_only: BTreeSet<String>,
    scope: Filter,
    signature: String,
    /// The reader, kept when the binding has computed fields that read it (and only then:
    /// the view's signature then names the user, so pushes are rendered per reader).
    user: Option<Arc<User>>,
}

impl View {
    /// The view that sees everything.
    pub fn everything() -> Arc<View> {
        Arc::new(View {
            hidden: BTreeSet::new(),
            read_only: BTreeSet::new(),
            scope: Filter::everything(),
            signature: String::new(),
            user: None,
        })
    }

    /// Resolves `permission` for a user and an action on `binding`; `registry` resolves the
    /// relations its scope follows.
    pub fn resolve(
        registry: &Registry,
        binding: &ModelBinding,
        permission: &dyn Permission,
        user: Option<&User>,
        action: &str,
    ) -> Result<Arc<View>, ApiError> {
        let hidden: BTreeSet<String> = permission.hidden_fields(user).into_iter().collect();
        let read_only = permission.read_only_fields(user).into_iter().collect();
        let scope = match permission.scope(user, action) {
            None => Filter::everything(),
            // The scope is the application's own filter, so it may name any field; a bad one
            // is a bug in the binding, reported as `internal` and logged.
            Some(filters) => parse_scope(registry, binding, &filters).map_err(|e| {
                tracing::error!(stream = binding.stream(), error = %e, "a permission's scope does not parse");
                ApiError::internal()
            })?,
        };
        let mut signature = format!("{hidden:?}|{scope:?}");
        // Computed fields that read the user make rows look different to each reader: the
        // signature (what shares a rendering) then names the reader.
        let per_reader = binding
            .computed_fields()
            .iter()
            .any(|c| c.reads_user() && !hidden.contains(c.name()));
        let user = match (per_reader, user) {
            (false, _) => None,
            (true, None) => {
                signature.push_str("|anonymous");
                None
            }
            (true, Some(user)) => {
                signature.push_str(&format!("|user {}", user.id));
                Some(Arc::new(user.clone()))
            }
        };
        Ok(Arc::new(View {
            hidden,
            read_only,
            scope,
            signature,
            user,
        }))
    }

    /// A view hiding `hidden` and scoped to `scope`, for tests that need no permission.
    #[cfg(test)]
    pub(crate) fn for_tests<'a>(
        hidden: impl IntoIterator<Item = &'a str>,
        scope: Filter,
    ) -> Arc<View> {
        let hidden: BTreeSet<String> = hidden.into_iter().map(str::to_owned).collect();
        let signature = format!("{hidden:?}|{scope:?}");
        Arc::new(View {
            hidden,
            read_only: BTreeSet::new(),
            scope,
            signature,
            user: None,
        })
    }

    /// The reader whose computed fields the view renders: set only when the binding has
    /// computed fields that read the user (`None` otherwise, and for anonymous readers).
    pub fn user(&self) -> Option<&User> {
        self.user.as_deref()
    }

    /// Whether the field is visible.
    pub fn can_see(&self, field: &str) -> bool {
        !self.hidden.contains(field)
    }

    /// Whether the user may write the field (the binding's own read-only flag aside).
    pub fn can_write(&self, field: &str) -> bool {
        !self.read_only.contains(field) && !self.hidden.contains(field)
    }

    /// The row scope.
    pub fn scope(&self) -> &Filter {
        &self.scope
    }

    /// Equal for views that render rows identically and select the same rows, so
    /// subscriptions sharing one can share a payload.
    pub fn signature(&self) -> &str {
        &self.signature
    }
}
