//! The host's authenticator: the application in front of chanbind (an axum or tower stack)
//! already knows who is calling, and says so in the request's extensions.

use std::fmt;
use std::sync::Arc;

use super::{AuthFuture, Authenticator, RequestHead, User};

/// How a request's extensions give a user.
type Extract = dyn Fn(&http::Extensions) -> Option<User> + Send + Sync;

/// Recognises a request by what the host application's middleware put in its extensions:
/// a [`User`] ([`new`](Self::new)), or a type of the host's own that a closure maps to one
/// ([`map`](Self::map)). A request without it is not recognised (`Ok(None)`): the next
/// authenticator, or anonymous access, decides.
///
/// It sees what the async adapter's service is handed, so the host's middleware must run
/// before the request reaches chanbind (an axum `middleware::from_fn` layered around the
/// router that nests it, say). It answers the WebSocket handshake and HTTP API requests
/// alike. The blocking adapter reads requests from its own sockets, which carry no
/// extensions, so there it never recognises anyone.
///
/// A host that identifies its users by a cookie still has chanbind's origin check in front:
/// a WebSocket handshake (or an HTTP write) with a `Cookie` and no token must come with an
/// `Origin` the engine allows ([`crate::AllowedOrigins`]; a page of the same host by
/// default), or it is refused with 403, since a page of any other site could open it with
/// the user's cookies. Browsers send `Origin` themselves; other clients must send it.
///
/// ```
/// use chanbind_engine::auth::{ExtensionAuthenticator, User};
///
/// /// What the host's session middleware inserts.
/// #[derive(Clone)]
/// struct Session { user_id: i64, login: String }
///
/// let auth = ExtensionAuthenticator::map(|s: &Session| Some(User::new(s.user_id, s.login.clone())));
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct ExtensionAuthenticator {
    extract: Arc<Extract>,
}

impl ExtensionAuthenticator {
    /// Reads the [`User`] the host inserted into the request's extensions.
    pub fn new() -> Self {
        ExtensionAuthenticator {
            extract: Arc::new(|extensions| extensions.get::<User>().cloned()),
        }
    }

    /// Reads the host's own `T` from the request's extensions and maps it to a user; `None`
    /// from `map` leaves the request unrecognised.
    pub fn map<T, F>(map: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> Option<User> + Send + Sync + 'static,
    {
        ExtensionAuthenticator {
            extract: Arc::new(move |extensions| extensions.get::<T>().and_then(&map)),
        }
    }
}

impl Default for ExtensionAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ExtensionAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtensionAuthenticator")
            .finish_non_exhaustive()
    }
}

impl Authenticator for ExtensionAuthenticator {
    fn authenticate<'a>(&'a self, head: &'a RequestHead) -> AuthFuture<'a> {
        let user = (self.extract)(&head.extensions);
        Box::pin(async move { Ok(user) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct HostSession(i64);

    fn user_of(auth: &ExtensionAuthenticator, head: &RequestHead) -> Option<i64> {
        futures_executor::block_on(auth.authenticate(head))
            .unwrap()
            .map(|u| u.id)
    }

    #[test]
    fn reads_the_hosts_user_or_its_own_type() {
        let mut head = RequestHead::default();
        assert_eq!(user_of(&ExtensionAuthenticator::new(), &head), None);
        head.extensions.insert(User::new(3, "carol"));
        head.extensions.insert(HostSession(9));
        assert_eq!(user_of(&ExtensionAuthenticator::new(), &head), Some(3));
        let mapped = ExtensionAuthenticator::map(|s: &HostSession| Some(User::new(s.0, "host")));
        assert_eq!(user_of(&mapped, &head), Some(9));
        let refused = ExtensionAuthenticator::map(|_: &HostSession| None);
        assert_eq!(user_of(&refused, &head), None);
    }
}
