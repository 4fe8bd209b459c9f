//! The token authenticator: a configured table of secrets, each naming a user.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{AuthError, AuthFuture, Authenticator, RequestHead, User};

/// The digest a secret is kept and looked up by.
type SecretDigest = [u8; 32];

/// Recognises a request by a secret token, looked up in a fixed table. The token may come as
/// `Authorization: Bearer <token>`, as the `token` query parameter (browsers cannot set
/// headers on a WebSocket) or as the `token` cookie, in that order: the first of them the
/// request carries is the only one read, and a wrong one is refused with 401 rather than
/// passed over for the next.
///
/// Secrets are kept only as SHA-256 digests and requests are looked up by the digest of what
/// they carry, so the time a lookup takes says nothing about how much of a secret a guess got
/// right, and a memory dump of the table does not reveal the secrets.
#[derive(Clone, Default)]
pub struct TokenAuthenticator {
    tokens: HashMap<SecretDigest, User>,
}

impl std::fmt::Debug for TokenAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Digests are not secrets, but there is no reason to print them either.
        f.debug_struct("TokenAuthenticator")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

fn digest(secret: &str) -> SecretDigest {
    Sha256::digest(secret.as_bytes()).into()
}

impl TokenAuthenticator {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token for `user`.
    pub fn token(mut self, secret: &str, user: User) -> Self {
        self.tokens.insert(digest(secret), user);
        self
    }

    /// Whether the table has no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The user of the first token the request carries; [`AuthError::Rejected`] when that
    /// token is not in the table, `Ok(None)` when it carries none.
    fn lookup(&self, head: &RequestHead) -> Result<Option<User>, AuthError> {
        let presented = head.token();
        // An empty `?token=` is no token (a client that has none yet), not a wrong one.
        match presented.filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(token) => match self.tokens.get(&digest(&token)) {
                Some(user) => Ok(Some(user.clone())),
                None => Err(AuthError::Rejected),
            },
        }
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate<'a>(&'a self, head: &'a RequestHead) -> AuthFuture<'a> {
        let user = self.lookup(head);
        Box::pin(async move { user })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(result: Result<Option<User>, AuthError>) -> Result<Option<i64>, ()> {
        result.map(|u| u.map(|u| u.id)).map_err(|_| ())
    }

    #[test]
    fn finds_the_token_wherever_it_comes() {
        let auth = TokenAuthenticator::new().token("s3cret", User::new(7, "alice"));
        let mut head = RequestHead {
            uri: "/?token=s3cret".parse().unwrap(),
            ..Default::default()
        };
        assert_eq!(id(auth.lookup(&head)), Ok(Some(7)));
        head.uri = "/".parse().unwrap();
        assert_eq!(id(auth.lookup(&head)), Ok(None));
        head.headers
            .insert(http::header::COOKIE, "token=s3cret".parse().unwrap());
        assert_eq!(id(auth.lookup(&head)), Ok(Some(7)));
        assert!(!format!("{auth:?}").contains("s3cret"));
    }

    #[test]
    fn a_wrong_token_is_refused_and_never_falls_through() {
        let auth = TokenAuthenticator::new().token("s3cret", User::new(7, "alice"));
        let mut head = RequestHead {
            uri: "/?token=s3cret".parse().unwrap(),
            ..Default::default()
        };
        head.headers
            .insert(http::header::COOKIE, "token=s3cret".parse().unwrap());
        head.headers
            .insert(http::header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert_eq!(id(auth.lookup(&head)), Err(()), "a wrong bearer");
        head.headers.remove(http::header::AUTHORIZATION);
        head.uri = "/?token=wrong".parse().unwrap();
        assert_eq!(id(auth.lookup(&head)), Err(()), "a wrong query token");
        head.uri = "/".parse().unwrap();
        head.headers
            .insert(http::header::COOKIE, "token=s3cre".parse().unwrap());
        assert_eq!(id(auth.lookup(&head)), Err(()), "a wrong cookie");
    }
}
