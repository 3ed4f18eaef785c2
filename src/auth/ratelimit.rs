//! Per-peer limit on failed authentications (credential stuffing, key
//! enumeration, a misconfigured client retrying in a loop).
//!
//! Only failures are counted, so a valid caller is never slowed down, even
//! one sharing an address with an attacker. Over the quota, failures are
//! answered RESOURCE_EXHAUSTED with a `retry-after` (seconds) instead of
//! UNAUTHENTICATED. GCRA from the `governor` crate.
//!
//! A peer over its quota is also refused *before* its next credential is
//! looked up in the database (see [`ColdLookups`]): refusing only after the
//! lookup would still let a flood of made-up keys cost one query each.
//! Credentials already in memory are not affected, so a valid caller
//! sharing an address with an attacker still gets through.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};

use crate::cache::Cache;
use governor::{DefaultKeyedRateLimiter, Quota};

/// The limiter.
pub struct FailedAuthLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    failures: AtomicU64,
    /// Peers over their quota → when they may fail again. Bounded, and
    /// entries expire by themselves.
    blocked: Cache<IpAddr, std::time::Instant>,
    /// Peers with a failure in the last minute: their cold lookups are
    /// charged against their quota up front (see [`ColdLookups`]).
    suspects: Cache<IpAddr, ()>,
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
            blocked: Cache::with_ttl(100_000, Duration::from_secs(60)),
            suspects: Cache::with_ttl(100_000, Duration::from_secs(60)),
        }
    }

    /// Before a database lookup for `peer`: `Err(wait)` when it is over its
    /// quota. A peer that failed recently is charged one unit of its quota
    /// now, so however many calls it has in flight at once, its lookups
    /// stay within the quota's burst and rate; a peer without failures is
    /// not charged (valid callers are never slowed down).
    pub fn charge_lookup(&self, peer: IpAddr) -> Result<(), Duration> {
        if let Some(wait) = self.blocked_for(peer) {
            return Err(wait);
        }
        if !self.suspects.contains_key(&peer) {
            return Ok(());
        }
        match self.limiter.check_key(&peer) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                self.blocked.insert(peer, std::time::Instant::now() + wait);
                Err(wait)
            }
        }
    }

    /// How long `peer` must still wait, if it is over its quota now. One
    /// cache read: cheap enough for every cold lookup.
    pub fn blocked_for(&self, peer: IpAddr) -> Option<Duration> {
        let until = self.blocked.get(&peer)?;
        let left = until.saturating_duration_since(std::time::Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Records a failed authentication from `peer`; returns how long it must
    /// wait when it is over its quota. `looked_up`: the credential was a
    /// well-formed one that went to the key index, whose database lookup was
    /// already charged if the peer had failed recently (so one attempt is
    /// never charged twice).
    pub fn failed(&self, peer: IpAddr, looked_up: bool) -> Option<Duration> {
        let was_suspect = self.suspects.contains_key(&peer);
        self.suspects.insert(peer, ());
        if looked_up && was_suspect {
            return self.blocked_for(peer);
        }
        // Forget idle peers now and then, so memory stays bounded.
        if self.failures.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        let wait = self
            .limiter
            .check_key(&peer)
            .err()
            .map(|not_until| not_until.wait_time_from(self.clock.now()));
        if let Some(wait) = wait {
            self.blocked.insert(peer, std::time::Instant::now() + wait);
        }
        wait
    }
}

/// The gate in front of every database lookup of a credential that is not
/// in memory: a peer over its failed-authentication quota is refused
/// outright, and all peers together get at most `per_second` lookups a
/// second (a caller over it waits up to [`COLD_LOOKUP_WAIT`] for its turn).
/// Concurrent lookups of one credential are coalesced by the index itself.
pub struct ColdLookups {
    limiter: governor::DefaultDirectRateLimiter,
    clock: DefaultClock,
    failures: std::sync::Arc<FailedAuthLimiter>,
}

/// Longest a cold lookup waits for the global cap before it is refused.
pub const COLD_LOOKUP_WAIT: Duration = Duration::from_secs(1);

impl std::fmt::Debug for ColdLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdLookups").finish_non_exhaustive()
    }
}

impl ColdLookups {
    /// At most `per_second` lookups a second (and as a burst), and none
    /// for peers `failures` has blocked.
    pub fn new(per_second: u32, failures: std::sync::Arc<FailedAuthLimiter>) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).expect("non-zero");
        Self {
            limiter: governor::RateLimiter::direct(Quota::per_second(rate).allow_burst(rate)),
            clock: DefaultClock::default(),
            failures,
        }
    }

    /// Waits for a lookup slot; RESOURCE_EXHAUSTED when `peer` is blocked
    /// or no slot frees up within [`COLD_LOOKUP_WAIT`].
    pub async fn admit(&self, peer: Option<IpAddr>) -> crate::error::Result<()> {
        use crate::error::Error;
        if let Some(peer) = peer
            && self.failures.charge_lookup(peer).is_err()
        {
            return Err(Error::ResourceExhausted(
                "too many failed authentications; retry later".into(),
            ));
        }
        let mut waited = Duration::ZERO;
        loop {
            let wait = match self.limiter.check() {
                Ok(()) => return Ok(()),
                Err(not_until) => not_until.wait_time_from(self.clock.now()),
            };
            waited += wait;
            if waited > COLD_LOOKUP_WAIT {
                return Err(Error::ResourceExhausted(
                    "too many credential lookups; retry later".into(),
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }
}
