//! Who a WebSocket connection is over its life (docs/protocol.md section 4): its current user,
//! which an in-band `auth.refresh` or the application's re-check replaces; the one expiry
//! timer of its credential; and the requests that opened its subscriptions, which are run
//! again under a new user to re-check them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::auth::User;
use crate::engine::Engine;
use crate::outbound::{ConnHandle, ConnId, SubKey};

/// What the session, its jobs and the engine (to disconnect or re-check a user) share of one
/// WebSocket connection.
pub(crate) struct Identity {
    /// The connection's handle, as its subscriptions hold it; its `user` is the one it
    /// opened with, [`Identity::user`] is the current one.
    conn: ConnHandle,
    user: Mutex<Option<Arc<User>>>,
    /// The text of each request that opened a live subscription, by the subscription's key.
    /// Kept only for subscriptions the connection still holds (pruned as new ones come), and
    /// counted against `max_subscription_bytes` with what their results hold.
    requests: Mutex<HashMap<SubKey, Arc<str>>>,
    /// The credential's expiry timer: one per connection, replaced on refresh.
    timer: Mutex<Option<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("conn", &self.conn.id)
            .field("user", &*lock(&self.user))
            .finish_non_exhaustive()
    }
}

/// Locks a mutex whose holder may have panicked: every value here stays consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Identity {
    /// The identity of a connection opened with `conn` (and its user).
    pub(crate) fn new(conn: ConnHandle) -> Arc<Identity> {
        Arc::new(Identity {
            user: Mutex::new(conn.user.clone()),
            conn,
            requests: Mutex::default(),
            timer: Mutex::default(),
        })
    }

    /// The connection's id.
    pub(crate) fn id(&self) -> ConnId {
        self.conn.id
    }

    /// The current user.
    pub(crate) fn user(&self) -> Option<Arc<User>> {
        lock(&self.user).clone()
    }

    /// The connection's handle with `user` as its user: what a request planned for that
    /// user registers its subscription with.
    pub(crate) fn conn_as(&self, user: Option<Arc<User>>) -> ConnHandle {
        ConnHandle {
            user,
            ..self.conn.clone()
        }
    }

    /// Asks the connection's adapter to close it with `code`; whether this was the first close
    /// asked for.
    pub(crate) fn end(&self, code: u16) -> bool {
        self.conn.out.end(code)
    }

    /// The connection's turn to run a job (see [`ConnHandle::gate`]).
    pub(crate) fn gate(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.conn.gate)
    }

    /// Makes `user` the connection's user and starts its credential's expiry timer in place
    /// of the old one; returns the user it replaces. A credential that expires when the old
    /// one did keeps the old timer, which may have warned already: a client refreshing with
    /// the same token is not warned again and again.
    pub(crate) fn replace(&self, engine: &Engine, user: Arc<User>) -> Option<Arc<User>> {
        let old = lock(&self.user).replace(Arc::clone(&user));
        if old.as_ref().map(|old| old.expires_at) != Some(user.expires_at) {
            self.arm(engine, &user);
        }
        old
    }

    /// Starts the expiry timer of `user`'s credential, stopping the one running.
    pub(crate) fn arm(&self, engine: &Engine, user: &User) {
        let timer = user
            .expires_at
            .and_then(|at| super::expiry::start(engine, Arc::clone(&self.conn.out), at));
        if let Some(old) = std::mem::replace(&mut *lock(&self.timer), timer) {
            old.abort();
        }
    }

    /// Stops the expiry timer (the connection ended).
    pub(crate) fn disarm(&self) {
        if let Some(timer) = lock(&self.timer).take() {
            timer.abort();
        }
    }

    /// Keeps the text of the request that opened (or replaced) the subscription `key`, and
    /// forgets those of subscriptions the connection no longer holds.
    pub(crate) fn remember(&self, key: &SubKey, text: &str) {
        let held = &self.conn.held;
        let mut requests = lock(&self.requests);
        let live = lock(&self.conn.subs).clone();
        requests.retain(|k, text| {
            let keep = live.contains(k) && k != key;
            if !keep {
                held.release(text.len());
            }
            keep
        });
        // Counted like a live result: it may pass the bound, and then refuses the next one.
        held.replace(0, text.len());
        requests.insert(key.clone(), Arc::from(text));
    }

    /// The request that opened the subscription `key`, if it is kept.
    pub(crate) fn request(&self, key: &SubKey) -> Option<Arc<str>> {
        lock(&self.requests).get(key).cloned()
    }

    /// The subscriptions the connection holds now.
    pub(crate) fn subscriptions(&self) -> Vec<SubKey> {
        lock(&self.conn.subs).iter().cloned().collect()
    }
}
