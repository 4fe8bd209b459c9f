//! The token authenticator: a configured table of secrets, each naming a user.

use std::collections::HashMap;

use super::{AuthFuture, Authenticator, RequestHead, User};

/// Recognises a request by a secret token, looked up in a fixed table. The token may come as
/// `Authorization: Bearer <token>`, as the `token` query parameter (browsers cannot set
/// headers on a WebSocket) or as the `token` cookie, in that order.
#[derive(Debug, Clone, Default)]
pub struct TokenAuthenticator {
    tokens: HashMap<String, User>,
}

impl TokenAuthenticator {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token for `user`.
    pub fn token(mut self, secret: &str, user: User) -> Self {
        self.tokens.insert(secret.to_owned(), user);
        self
    }

    /// Whether the table has no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    fn lookup(&self, head: &RequestHead) -> Option<User> {
        if let Some(user) = head.bearer().and_then(|t| self.tokens.get(t)) {
            return Some(user.clone());
        }
        if let Some(user) = head
            .query_param("token")
            .and_then(|t| self.tokens.get(&t).cloned())
        {
            return Some(user);
        }
        head.cookie("token")
            .and_then(|t| self.tokens.get(t))
            .cloned()
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate<'a>(&'a self, head: &'a RequestHead) -> AuthFuture<'a> {
        let user = self.lookup(head);
        Box::pin(async move { Ok(user) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_wherever_it_comes() {
        let auth = TokenAuthenticator::new().token("s3cret", User::new(7, "alice"));
        let mut head = RequestHead {
            uri: "/?token=s3cret".parse().unwrap(),
            ..Default::default()
        };
        assert_eq!(auth.lookup(&head).map(|u| u.id), Some(7));
        head.uri = "/".parse().unwrap();
        assert_eq!(auth.lookup(&head), None);
        head.headers
            .insert(http::header::COOKIE, "token=s3cret".parse().unwrap());
        assert_eq!(auth.lookup(&head).map(|u| u.name), Some("alice".to_owned()));
        head.headers
            .insert(http::header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert_eq!(
            auth.lookup(&head).map(|u| u.id),
            Some(7),
            "a wrong bearer falls through to the cookie"
        );
    }
}
