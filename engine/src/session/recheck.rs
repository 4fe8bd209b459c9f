//! Re-checking a connection's subscriptions against a new user (after an `auth.refresh`, or
//! when the application re-checks a user; docs/protocol.md section 4): each subscription's
//! request is planned and run again with the new user's rights, as if the client had just
//! sent it. One still allowed is answered afresh under its own event (a `retrieve` its row, a
//! live `search` or `list` its fresh result, a `subscribe` `{"success": true}`) and replaces
//! the old one, with no gap; one the new user may no longer have ends, with the error the
//! request would get now under its event.

use std::sync::Arc;

use super::identity::Identity;
use super::{Session, Step};
use crate::actors::StreamMsg;
use crate::auth::User;
use crate::engine::Engine;
use crate::outbound::{ConnHandle, SubKey};
use crate::protocol::{decode_inbound, encode_error, ApiError};

/// Makes `user` the connection's user, restarts its expiry timer, and, when its rights may
/// differ from the old user's (another name or other claims), re-checks every subscription.
/// Runs in the connection's turn (its gate held), so none of its own requests runs meanwhile.
pub(crate) async fn run(engine: &Engine, identity: &Identity, user: Arc<User>) {
    let old = identity.replace(engine, Arc::clone(&user));
    let same_rights = old
        .as_deref()
        .is_some_and(|old| old.name == user.name && old.claims == user.claims);
    if same_rights {
        return;
    }
    let conn = identity.conn_as(Some(user));
    let mut planner = Session::borrowing(engine.clone(), conn.clone());
    for key in identity.subscriptions() {
        let Some(text) = identity.request(&key) else {
            tracing::debug!(event = %key.event, "no request kept for a subscription; left as it is");
            continue;
        };
        let planned = decode_inbound(&text)
            .map_err(|e| *e.error)
            .and_then(|inbound| planner.plan(inbound));
        match planned {
            // A refusal when run (`not_found` outside the new scope) ends it there.
            // Boxed: a job may be a refresh, whose re-check runs jobs (never another refresh:
            // only subscribing requests are kept).
            Ok(Step::Run(job)) => Box::pin(job.run_turn()).await,
            Ok(Step::Reply(frame)) => {
                conn.out.send(frame);
            }
            Err(error) => end(engine, &conn, &key, &error),
        }
    }
}

/// Ends the subscription `key`, which its request's new refusal `error` is pushed for.
fn end(engine: &Engine, conn: &ConnHandle, key: &SubKey, error: &ApiError) {
    conn.forget(key);
    if let Some(actor) = engine.inner().streams.get(&key.stream) {
        let _ = actor.send_message(StreamMsg::Forget {
            conn: conn.id,
            key: key.clone(),
        });
    }
    conn.out.send(encode_error(&key.event, error));
}
