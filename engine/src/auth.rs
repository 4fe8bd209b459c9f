//! Who is on the other end of a connection.
//!
//! Authenticators and the permission pipeline build on this; for now a connection carries an
//! optional [`User`] that the `hello` frame names.

use serde::Serialize;
use serde_json::{Map, Value};

/// A signed-in user, as an authenticator recognised them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// The user's id (the primary key of `auth.User` in the demo).
    pub id: i64,
    /// The user's name.
    pub name: String,
    /// Claims or roles that permissions may read; never sent to the client.
    #[serde(skip)]
    pub claims: Map<String, Value>,
}

impl User {
    /// A user with an id and a name and no claims.
    pub fn new(id: i64, name: impl Into<String>) -> Self {
        User {
            id,
            name: name.into(),
            claims: Map::new(),
        }
    }
}
