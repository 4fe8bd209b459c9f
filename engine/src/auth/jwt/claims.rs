//! A verified token's claims as a [`User`]: which claim is the id, the name, the roles.

use serde_json::{Map, Value};

use crate::auth::{User, ROLES_CLAIM};

/// Which claims give the user's id, name and roles.
#[derive(Debug, Clone)]
pub(super) struct ClaimMapping {
    /// The id's claim.
    pub(super) id: String,
    /// The name's claim; `None` tries `name`, then `preferred_username`.
    pub(super) name: Option<String>,
    /// The roles' claim (a name, or a dotted path into an object).
    pub(super) roles: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            id: "sub".to_owned(),
            name: None,
            roles: ROLES_CLAIM.to_owned(),
        }
    }
}

/// Why verified claims do not make a user.
#[derive(Debug, thiserror::Error)]
pub(super) enum ClaimError {
    /// The id claim is missing.
    #[error("no `{0}` claim")]
    MissingId(String),
    /// The id claim is not an integer.
    #[error("the `{0}` claim is not an integer id")]
    NotAnId(String),
    /// The roles claim is neither strings nor a string.
    #[error("the `{0}` claim is not a list of roles")]
    NotRoles(String),
}

impl ClaimMapping {
    /// The user the claims name. Every claim is kept in [`User::claims`]; the roles are
    /// put, as an array of strings, under `roles`.
    pub(super) fn user(&self, mut claims: Map<String, Value>) -> Result<User, ClaimError> {
        let id = match lookup(&claims, &self.id) {
            None => return Err(ClaimError::MissingId(self.id.clone())),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        }
        .ok_or_else(|| ClaimError::NotAnId(self.id.clone()))?;
        let name = match &self.name {
            Some(claim) => lookup(&claims, claim).and_then(Value::as_str),
            None => ["name", "preferred_username"]
                .iter()
                .find_map(|claim| claims.get(*claim).and_then(Value::as_str)),
        }
        .map_or_else(|| id.to_string(), str::to_owned);
        let roles = match lookup(&claims, &self.roles) {
            None => None,
            Some(Value::String(s)) => Some(s.split_whitespace().map(Value::from).collect()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Some(items.clone()),
            Some(_) => return Err(ClaimError::NotRoles(self.roles.clone())),
        };
        if let Some(roles) = roles {
            claims.insert(ROLES_CLAIM.to_owned(), Value::Array(roles));
        }
        let mut user = User::new(id, name);
        user.claims = claims;
        Ok(user)
    }
}

/// The claim `name`, else the value a dotted path leads to (`realm_access.roles`). The exact
/// name wins: namespaced claims such as `https://example.com/roles` contain dots.
fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let first = claims.get(parts.next()?)?;
    parts.try_fold(first, |value, part| value.as_object()?.get(part))
}
