//! Request rate limits: a token bucket per connection (`requests_per_second`, with
//! `request_burst`) and one per user, or per address for anonymous clients
//! (`user_requests_per_second`). A request past either is answered with `rate_limited` (over
//! HTTP, 429 with `Retry-After`) and not run; the connection stays open.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::admission::Holder;
use crate::config::Limits;
use crate::protocol::{ApiError, ErrorCode};

/// How often the per-user buckets are pruned of holders that are full again, so the map is
/// bounded by the clients active in the last moments rather than every client ever seen.
const PRUNE_EVERY: u64 = 4096;

/// The server-wide per-user buckets, and the quota new connections' buckets get.
pub(crate) struct RateLimits {
    per_connection: Option<Quota>,
    per_user: Option<DefaultKeyedRateLimiter<Holder>>,
    checks: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_connection", &self.per_connection)
            .field("per_user", &self.per_user.is_some())
            .finish()
    }
}

/// One connection's bucket.
pub(crate) struct ConnectionRate(Option<DefaultDirectRateLimiter>);

impl fmt::Debug for ConnectionRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionRate")
    }
}

impl RateLimits {
    pub(crate) fn new(limits: &Limits) -> RateLimits {
        let quota = |rate: u32, burst: u32| {
            let burst = NonZeroU32::new(burst);
            NonZeroU32::new(rate)
                .map(|rate| Quota::per_second(rate).allow_burst(burst.unwrap_or(rate)))
        };
        // A user's connections together may burst two seconds' worth (at least a
        // connection's burst): many tabs, or many clients behind one address, opening at once.
        let user_burst = limits
            .user_requests_per_second
            .saturating_mul(2)
            .max(limits.request_burst);
        RateLimits {
            per_connection: quota(limits.requests_per_second, limits.request_burst),
            per_user: quota(limits.user_requests_per_second, user_burst).map(RateLimiter::keyed),
            checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A new connection's bucket, full.
    pub(crate) fn connection(&self) -> ConnectionRate {
        ConnectionRate(self.per_connection.map(RateLimiter::direct))
    }

    /// Takes one request from the connection's bucket (if any) and the holder's; the error
    /// says how long to wait. A request refused by the holder's bucket still took from the
    /// connection's: a client that floods is slowed on both.
    pub(crate) fn check(
        &self,
        connection: Option<&ConnectionRate>,
        holder: Option<&Holder>,
    ) -> Result<(), RateLimited> {
        let clock = DefaultClock::default();
        if let Some(Some(bucket)) = connection.map(|c| c.0.as_ref()) {
            if let Err(not_until) = bucket.check() {
                return Err(RateLimited(not_until.wait_time_from(clock.now())));
            }
        }
        if let (Some(buckets), Some(holder)) = (&self.per_user, holder) {
            let n = self
                .checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n % PRUNE_EVERY == PRUNE_EVERY - 1 {
                buckets.retain_recent();
            }
            if let Err(not_until) = buckets.check_key(holder) {
                return Err(RateLimited(not_until.wait_time_from(clock.now())));
            }
        }
        Ok(())
    }
}

/// A request came too fast; it may be sent again after the duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited(pub Duration);

impl RateLimited {
    /// The error the client gets.
    pub fn error(self) -> ApiError {
        ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many requests; retry in {} ms",
                self.0.as_millis().max(1)
            ),
        )
    }

    /// Whole seconds to wait, for HTTP's `Retry-After` (at least 1).
    pub fn retry_after_secs(self) -> u64 {
        (self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_conn: u32, burst: u32, per_user: u32) -> Limits {
        Limits {
            requests_per_second: per_conn,
            request_burst: burst,
            user_requests_per_second: per_user,
            ..Limits::default()
        }
    }

    #[test]
    fn a_connection_gets_its_burst_then_is_refused_with_a_wait() {
        let rates = RateLimits::new(&limits(1, 3, 0));
        let conn = rates.connection();
        for _ in 0..3 {
            assert!(rates.check(Some(&conn), None).is_ok());
        }
        let refused = rates.check(Some(&conn), None).unwrap_err();
        assert!(refused.0 > Duration::ZERO && refused.0 <= Duration::from_secs(1));
        assert_eq!(refused.retry_after_secs(), 1);
        assert_eq!(refused.error().code, ErrorCode::RateLimited);
        // Another connection has its own bucket.
        assert!(rates.check(Some(&rates.connection()), None).is_ok());
    }

    #[test]
    fn one_users_connections_share_the_users_bucket() {
        // A burst of 2 for the user: twice its rate of 1, and the connection's burst.
        let rates = RateLimits::new(&limits(0, 2, 1));
        let alice = Holder::User(1);
        let (a, b) = (rates.connection(), rates.connection());
        assert!(rates.check(Some(&a), Some(&alice)).is_ok());
        assert!(rates.check(Some(&b), Some(&alice)).is_ok());
        assert!(rates.check(Some(&a), Some(&alice)).is_err());
        assert!(rates.check(Some(&b), Some(&Holder::User(2))).is_ok());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let rates = RateLimits::new(&limits(0, 0, 0));
        let conn = rates.connection();
        for _ in 0..10_000 {
            assert!(rates.check(Some(&conn), Some(&Holder::User(1))).is_ok());
        }
    }
}
