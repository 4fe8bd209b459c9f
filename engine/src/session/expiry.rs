//! The expiry timer of a connection's credential (docs/protocol.md section 4): an
//! `auth.expiring` push some time before [`User::expires_at`](crate::auth::User::expires_at),
//! then the close 4001 when it passes. One task per connection, on the engine's runtime, so
//! both adapters share it; an `auth.refresh` replaces it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::engine::Engine;
use crate::outbound::Outbound;
use crate::protocol::close::AUTH_EXPIRED;
use crate::protocol::{encode_reply, Frame};

/// The event of the warning push.
pub const EXPIRING: &str = "auth.expiring";

/// Starts the timer of a credential that expires `at`; `None` (and an error logged) when the
/// engine has no runtime to run it on.
pub(super) fn start(
    engine: &Engine,
    out: Arc<dyn Outbound>,
    at: SystemTime,
) -> Option<tokio::task::AbortHandle> {
    let warning = engine.limits().auth_expiry_warning;
    let Some(runtime) = engine.runtime() else {
        tracing::error!("no tokio runtime to time credentials on; expiring users are not closed");
        return None;
    };
    Some(runtime.spawn(run(out, at, warning)).abort_handle())
}

/// How long before `left` runs out the warning goes: `warning`, or half of `left` when that is
/// shorter, so a short-lived credential is still warned with time to refresh. Zero: none.
pub(crate) fn lead(warning: Duration, left: Duration) -> Duration {
    warning.min(left / 2)
}

async fn run(out: Arc<dyn Outbound>, at: SystemTime, warning: Duration) {
    let lead = lead(warning, remaining(at));
    if !lead.is_zero() {
        tokio::time::sleep(remaining(at).saturating_sub(lead)).await;
        out.send(expiring(at, remaining(at)));
    }
    tokio::time::sleep(remaining(at)).await;
    tracing::debug!("credential expired; closing with 4001");
    out.end(AUTH_EXPIRED);
}

/// What is left of a credential that expires `at`.
fn remaining(at: SystemTime) -> Duration {
    at.duration_since(SystemTime::now()).unwrap_or_default()
}

/// The warning push: `{"event": "auth.expiring", "data": {"expires_at", "expires_in_ms"}}`.
pub(crate) fn expiring(at: SystemTime, left: Duration) -> Frame {
    let data = json!({
        "expires_at": rfc3339(at),
        "expires_in_ms": u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
    });
    encode_reply(EXPIRING, &data)
}

/// `at` as RFC 3339 in UTC, to the millisecond (`2026-12-04T18:00:00.000Z`).
pub(crate) fn rfc3339(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_ahead_by_the_window_or_half_what_is_left() {
        let s = Duration::from_secs;
        assert_eq!(lead(s(60), s(600)), s(60));
        assert_eq!(lead(s(60), s(5)), Duration::from_millis(2500));
        assert_eq!(lead(Duration::ZERO, s(5)), Duration::ZERO);
        assert_eq!(lead(s(1), Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_warning_names_the_expiry_in_rfc3339() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let frame: serde_json::Value =
            serde_json::from_str(expiring(at, Duration::from_millis(1500)).as_str()).unwrap();
        assert_eq!(frame["event"], "auth.expiring");
        assert_eq!(frame["data"]["expires_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(frame["data"]["expires_in_ms"], 1500);
    }
}
