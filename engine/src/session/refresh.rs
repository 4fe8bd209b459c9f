//! `auth.refresh` (docs/protocol.md section 4): a connection presents a fresh token in-band.
//! The engine's authenticators read it as they read a handshake's `Authorization: Bearer`;
//! the user it names must be the connection's own. Then it becomes the connection's user,
//! its credential's expiry timer starts over, and every subscription is re-checked against
//! it ([`super::recheck`]). A token refused, or another user's, leaves the connection as it
//! was: the same user, the same timer.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::identity::Identity;
use crate::auth::{Refusal, RequestHead, User};
use crate::engine::Engine;
use crate::protocol::{ApiError, ErrorCode};

/// The stream and action of the event.
pub(crate) const STREAM: &str = "auth";
/// The action of `auth.refresh`.
pub(crate) const ACTION: &str = "refresh";

/// The request's token: a non-empty string of at most `max` bytes.
pub(super) fn token(data: &Map<String, Value>, max: usize) -> Result<String, ApiError> {
    match data.get("token") {
        Some(Value::String(token)) if token.len() > max => Err(ApiError::bad_request(format!(
            "the token is longer than {max} bytes (max_token_bytes)"
        ))),
        Some(Value::String(token)) if !token.trim().is_empty() => Ok(token.clone()),
        _ => Err(ApiError::bad_request("token must be a non-empty string")),
    }
}

/// Authenticates `token` as the connection's user; on success re-checks the connection and
/// gives the reply, `{"success": true, "user": {"id", "name"}, "expires_at"}`.
pub(super) async fn run(
    engine: &Engine,
    identity: &Identity,
    token: &str,
) -> Result<(Value, Arc<User>), ApiError> {
    let Some(current) = identity.user() else {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "an anonymous connection cannot sign in in-band; reconnect with the token",
        ));
    };
    let refused = || ApiError::new(ErrorCode::Unauthenticated, "the token was not accepted");
    let value = http::HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| refused())?;
    let mut head = RequestHead::default();
    head.headers.insert(http::header::AUTHORIZATION, value);
    let user = match engine.authenticate(&head).await {
        Ok(Some(user)) => user,
        Err(Refusal::Unavailable) => {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "authentication is unavailable; try again",
            ))
        }
        // Nobody recognised it (anonymous would be allowed), or it was refused.
        Ok(None) | Err(_) => return Err(refused()),
    };
    if user.id != current.id {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "the token belongs to another user; reconnect to change users",
        ));
    }
    if user.expires_at.is_some_and(|at| at <= SystemTime::now()) {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "the token has expired",
        ));
    }
    let reply = json!({
        "success": true,
        "user": {"id": user.id, "name": user.name},
        "expires_at": user.expires_at.map(super::expiry::rfc3339),
    });
    Ok((reply, Arc::new(user)))
}
