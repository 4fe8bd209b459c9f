//! A user's WebSockets, for the application (docs/protocol.md section 4): closing them all
//! with 4003 ([`Engine::disconnect_user`]), or re-checking them against the user as the
//! application sees them now, after a change of roles ([`Engine::recheck_user`]). Both reach
//! the user's connections on this node at once and, through the channel layer, on the
//! other nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Engine;
use crate::auth::User;
use crate::layer::{LayerMessage, RemoteUser};
use crate::outbound::ConnId;
use crate::protocol::close::DISCONNECTED;
use crate::session::identity::Identity;

/// This node's WebSockets of each signed-in user.
#[derive(Debug, Default)]
pub(crate) struct Identities {
    by_user: Mutex<HashMap<i64, HashMap<ConnId, Arc<Identity>>>>,
}

impl Identities {
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, HashMap<ConnId, Arc<Identity>>>> {
        self.by_user.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection of `user` opened.
    pub(crate) fn add(&self, user: i64, identity: Arc<Identity>) {
        self.lock()
            .entry(user)
            .or_default()
            .insert(identity.id(), identity);
    }

    /// A connection ended. Its user id never changes (a refresh keeps the same user).
    pub(crate) fn remove(&self, identity: &Identity) {
        let Some(user) = identity.user().map(|u| u.id) else {
            return;
        };
        let mut by_user = self.lock();
        if let Some(conns) = by_user.get_mut(&user) {
            conns.remove(&identity.id());
            if conns.is_empty() {
                by_user.remove(&user);
            }
        }
    }

    /// The user's connections on this node.
    fn of(&self, user: i64) -> Vec<Arc<Identity>> {
        self.lock()
            .get(&user)
            .map(|conns| conns.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl Engine {
    /// Closes every WebSocket of the user `user_id` with 4003 ("disconnected by the
    /// application"), on this node at once and, through the layer, on the other nodes (a
    /// client takes it as final and does not reconnect by itself). What each connection had
    /// queued still goes out first. Returns how many of this node's connections it closed.
    ///
    /// Revoke the user's credentials first (the authenticator's): a client that reconnects
    /// with the old token would be let in again.
    pub fn disconnect_user(&self, user_id: i64) -> usize {
        let closed = self.disconnect_local(user_id);
        if self.inner.layer.is_remote() {
            self.inner
                .layer
                .publish(&LayerMessage::DisconnectUser { user_id });
        }
        closed
    }

    pub(crate) fn disconnect_local(&self, user_id: i64) -> usize {
        let closed = self
            .inner
            .identities
            .of(user_id)
            .iter()
            .filter(|identity| identity.end(DISCONNECTED))
            .count();
        tracing::debug!(user_id, closed, "user disconnected by the application");
        closed
    }

    /// Re-checks every WebSocket of `user.id` against `user`, the user as the application
    /// sees them now (new roles or claims, say): each connection takes it as its user and
    /// re-checks every subscription as after an `auth.refresh` (docs/protocol.md section 4),
    /// between its own requests. `user.expires_at` becomes the connections' credential
    /// expiry. The re-checks run in the background, on this node and, through the layer, on
    /// the others; it returns at once (so a custom handler may call it for its own user)
    /// with how many of this node's connections it started re-checking.
    pub fn recheck_user(&self, user: User) -> usize {
        if self.inner.layer.is_remote() {
            self.inner.layer.publish(&LayerMessage::RecheckUser {
                user: RemoteUser::from(&user),
            });
        }
        self.recheck_local(user)
    }

    /// Starts the re-check of this node's connections of `user.id`, one task each; how many.
    pub(crate) fn recheck_local(&self, user: User) -> usize {
        let user = Arc::new(user);
        let Some(runtime) = self.runtime().cloned() else {
            tracing::error!("no tokio runtime to re-check connections on");
            return 0;
        };
        let identities = self.inner.identities.of(user.id);
        let count = identities.len();
        let blocking = self.inner.store.is_blocking();
        for identity in identities {
            let (engine, user) = (self.clone(), Arc::clone(&user));
            let recheck = async move {
                let gate = identity.gate();
                let _turn = gate.lock().await;
                crate::session::recheck::run(&engine, &identity, user).await;
            };
            // A blocking store's calls must not hold up the runtime's workers.
            if blocking {
                runtime.spawn_blocking(move || futures_executor::block_on(recheck));
            } else {
                runtime.spawn(recheck);
            }
        }
        count
    }
}
