//! Per-peer limit on failed authentications (credential stuffing, key
//! enumeration, a misconfigured client retrying in a loop).
//!
//! Only failures are counted, so a valid caller is never slowed down, even
//! one sharing an address with an attacker. Over the quota, failures are
//! answered RESOURCE_EXHAUSTED with a `retry-after` (seconds) instead of
//! UNAUTHENTICATED. GCRA from the `governor` crate.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// The limiter.
pub struct FailedAuthLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    failures: AtomicU64,
}

impl std::fmt::Debug for FailedAuthLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailedAuthLimiter")
            .field("failures", &self.failures)
            .finish()
    }
}

impl FailedAuthLimiter {
    /// `per_second` sustained failures per peer after a `burst` (both at least 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second.max(1)).expect("non-zero");
        let burst = NonZeroU32::new(burst.max(1)).expect("non-zero");
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            clock: DefaultClock::default(),
            failures: AtomicU64::new(0),
        }
    }

    /// Records a failed authentication from `peer`; returns how long it must
    /// wait when it is over its quota.
    pub fn failed(&self, peer: IpAddr) -> Option<Duration> {
        // Forget idle peers now and then, so memory stays bounded.
        if self.failures.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&peer)
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}
