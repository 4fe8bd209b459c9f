//! The demo's permission policy (issue: authentication and the permission pipeline).
//!
//! - Anonymous connections may `search`, `retrieve` and `subscribe` to `auth.User`, with
//!   `email` hidden, and nothing else.
//! - A signed-in user sees every `auth.User` but may update only their own row, and not its
//!   `is_active`; they see, create, update and delete only their own `todo.Task` rows, whose
//!   `owner_id` is set from the user and cannot be changed by them.
//! - A signed-in user reads every `todo.Comment` and writes comments as themselves
//!   (`author_id` is theirs and read-only); they change and delete only their own.
//! - Anyone signed in reads `todo.Tag`; only `admin` writes tags.
//! - The user `admin` may do everything, including changing `owner_id`.

use std::sync::Arc;

use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::binding::{CustomBinding, ModelBinding};
use chanbind_engine::filter::{parse_filter, Ordering};
use chanbind_engine::permission::{Access, Permission};
use chanbind_engine::store::{Store, StoreError, StoreOp, StoreOutput};
use chanbind_engine::value::Row;
use serde_json::{json, Map, Value};

use super::{insert, SeedError};

/// Which rules the demo enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Everyone may do everything (no tokens configured).
    Open,
    /// The rules of this module.
    Enforced,
}

impl Policy {
    pub(super) fn users(self, binding: ModelBinding) -> ModelBinding {
        match self {
            Policy::Open => binding,
            Policy::Enforced => binding.permission(Users),
        }
    }

    pub(super) fn tasks(self, binding: ModelBinding) -> ModelBinding {
        match self {
            Policy::Open => binding,
            Policy::Enforced => binding.permission(TASKS),
        }
    }

    pub(super) fn comments(self, binding: ModelBinding) -> ModelBinding {
        match self {
            Policy::Open => binding,
            Policy::Enforced => binding.permission(COMMENTS),
        }
    }

    /// `todo.Note`: shared notes anyone signed in edits, with version checks.
    pub(super) fn notes(self, binding: ModelBinding) -> ModelBinding {
        match self {
            Policy::Open => binding,
            Policy::Enforced => binding.permission(SignedIn),
        }
    }

    pub(super) fn tags(self, binding: ModelBinding) -> ModelBinding {
        match self {
            Policy::Open => binding,
            Policy::Enforced => binding.permission(Tags),
        }
    }

    pub(super) fn custom(self, binding: CustomBinding) -> CustomBinding {
        match self {
            Policy::Open => binding,
            Policy::Enforced => binding.permission(SignedIn),
        }
    }
}

/// The `admin` claim of `--token admin:...`, or a JWT's `admin` role.
fn is_admin(user: Option<&User>) -> bool {
    user.is_some_and(|u| u.has("admin") || u.has_role("admin"))
}

/// `auth.User`: anyone reads (anonymous without `email`), users edit themselves.
struct Users;

impl Permission for Users {
    fn allows(&self, access: &Access<'_>) -> bool {
        let Some(user) = access.user else {
            // A change feed shows no more than a live search does.
            return matches!(access.action, "retrieve" | "search" | "subscribe");
        };
        if is_admin(Some(user)) {
            return true;
        }
        match access.action {
            "retrieve" | "search" | "list" | "subscribe" | "form" => true,
            "update" | "save" => access.data.get("id").and_then(Value::as_i64) == Some(user.id),
            _ => false,
        }
    }

    fn hidden_fields(&self, user: Option<&User>) -> Vec<String> {
        match user {
            None => vec!["email".to_owned()],
            Some(_) => Vec::new(),
        }
    }

    fn read_only_fields(&self, user: Option<&User>) -> Vec<String> {
        if is_admin(user) {
            Vec::new()
        } else {
            vec!["is_active".to_owned()]
        }
    }
}

/// Rows that belong to the user named in `field` (`owner_id`, `author_id`), which is theirs
/// on every create and read-only to them; the admin's are everyone's. With `own_reads` a
/// user reads only their own rows (`todo.Task`), without it everyone signed in reads them all
/// and only changes their own (`todo.Comment`). With `admin_assigns` the admin's writes
/// name whoever they like (a task's owner); without it the admin is the writer like anyone
/// (a comment's author).
struct Owned {
    field: &'static str,
    own_reads: bool,
    admin_assigns: bool,
}

const TASKS: Owned = Owned {
    field: "owner_id",
    own_reads: true,
    admin_assigns: true,
};

const COMMENTS: Owned = Owned {
    field: "author_id",
    own_reads: false,
    admin_assigns: false,
};

impl Permission for Owned {
    fn allows(&self, access: &Access<'_>) -> bool {
        access.user.is_some()
    }

    fn scope(&self, user: Option<&User>, action: &str) -> Option<Map<String, Value>> {
        let writes = matches!(action, "update" | "save" | "delete");
        match user {
            Some(u) if is_admin(Some(u)) => None,
            Some(u) if self.own_reads || writes => json!({ self.field: u.id }).as_object().cloned(),
            Some(_) => None,
            // Never reached (anonymous requests are refused), but an empty scope is the safe
            // answer if it ever is.
            None => json!({"id__in": []}).as_object().cloned(),
        }
    }

    fn read_only_fields(&self, user: Option<&User>) -> Vec<String> {
        if is_admin(user) {
            Vec::new()
        } else {
            vec![self.field.to_owned()]
        }
    }

    fn prepare_write(&self, user: Option<&User>, action: &str, values: &mut Row) {
        let Some(user) = user else { return };
        if is_admin(Some(user)) && self.admin_assigns {
            return;
        }
        if action != "update" {
            values.insert(self.field.to_owned(), Value::from(user.id));
        }
    }
}

/// `todo.Tag`: read by everyone signed in, written by the admin.
struct Tags;

impl Permission for Tags {
    fn allows(&self, access: &Access<'_>) -> bool {
        match access.action {
            "retrieve" | "search" | "list" | "subscribe" | "form" => access.user.is_some(),
            _ => is_admin(access.user),
        }
    }
}

/// Custom events: signed-in users only.
struct SignedIn;

impl Permission for SignedIn {
    fn allows(&self, access: &Access<'_>) -> bool {
        access.user.is_some()
    }
}

/// Makes sure every `(name, secret)` has an `auth.User` row (creating missing ones) and
/// returns the authenticator that recognises the secrets. `admin` gets the `admin` claim.
pub async fn ensure_users(
    registry: &chanbind_engine::binding::Registry,
    store: &dyn Store,
    tokens: &[(String, String)],
) -> Result<TokenAuthenticator, SeedError> {
    let users = registry
        .get("auth.User")
        .ok_or_else(|| SeedError::Invalid("no auth.User binding".into()))?;
    let mut auth = TokenAuthenticator::new();
    for (name, secret) in tokens {
        auth = auth.token(secret, ensure_user(users, store, name).await?);
    }
    Ok(auth)
}

/// The `auth.User` named `name`, created when missing; `admin` gets the `admin` claim. An
/// application's login calls this once it has checked who the caller is.
pub async fn ensure_user(
    users: &Arc<ModelBinding>,
    store: &dyn Store,
    name: &str,
) -> Result<User, SeedError> {
    let id = match find_user(users, store, name).await? {
        Some(id) => id,
        None => match insert(
            store,
            users,
            json!({"username": name, "email": format!("{name}@example.com")}),
        )
        .await
        {
            Ok(id) => id.as_i64().ok_or_else(|| {
                SeedError::Invalid("auth.User has a key that is not an integer".into())
            })?,
            // Another demo process on this database made the user meanwhile.
            Err(SeedError::Store(StoreError::Conflict { .. })) => {
                find_user(users, store, name).await?.ok_or_else(|| {
                    SeedError::Invalid(format!("user {name} conflicts but is not found"))
                })?
            }
            Err(e) => return Err(e),
        },
    };
    let mut user = User::new(id, name);
    if name == "admin" {
        user = user.with_claim("admin", true);
    }
    Ok(user)
}

async fn find_user(
    users: &Arc<ModelBinding>,
    store: &dyn Store,
    name: &str,
) -> Result<Option<i64>, SeedError> {
    let filters = json!({"username": name});
    let filter = parse_filter(users, filters.as_object().unwrap_or(&Map::new()), None, 1)
        .map_err(|e| SeedError::Invalid(e.message))?;
    let op = StoreOp::Search {
        binding: Arc::clone(users),
        filter,
        order: Ordering::by_pk(users),
        offset: 0,
        limit: 1,
    };
    match store.execute(op).await? {
        StoreOutput::Page { rows, .. } => Ok(rows
            .first()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_i64)),
        _ => Ok(None),
    }
}
