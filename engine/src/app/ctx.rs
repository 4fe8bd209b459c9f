//! Whom an application call runs as.

use crate::auth::User;

/// Whom an application call runs as: a user, nobody, or the system with every right.
#[derive(Debug, Clone)]
pub struct Ctx {
    who: Who,
}

#[derive(Debug, Clone)]
enum Who {
    User(User),
    Anonymous,
    System,
}

impl Ctx {
    /// Runs as `user`, through the bindings' permissions as that user's connection would.
    pub fn user(user: User) -> Ctx {
        Ctx {
            who: Who::User(user),
        }
    }

    /// Runs as an anonymous connection would: a permission that needs a user refuses with
    /// `unauthenticated`. The engine's `allow_anonymous` is not asked: it decides whether
    /// anonymous clients may connect, and application code is not a client.
    pub fn anonymous() -> Ctx {
        Ctx {
            who: Who::Anonymous,
        }
    }

    /// Runs as the system, with every right: permission checks, row scopes, hidden and
    /// read-only fields of permissions are all bypassed (and `prepare_write` is not called).
    /// Validation and the binding's own read-only fields still apply; hooks see
    /// `system: true` and no user.
    pub fn system() -> Ctx {
        Ctx { who: Who::System }
    }

    /// The user the call runs as, if any.
    pub fn user_ref(&self) -> Option<&User> {
        match &self.who {
            Who::User(user) => Some(user),
            _ => None,
        }
    }

    /// Whether the call runs as the system.
    pub fn is_system(&self) -> bool {
        matches!(self.who, Who::System)
    }
}

impl From<Option<User>> for Ctx {
    /// The user's context, or the anonymous one: what a host's own login decided.
    fn from(user: Option<User>) -> Ctx {
        user.map_or_else(Ctx::anonymous, Ctx::user)
    }
}
