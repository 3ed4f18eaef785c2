//! What the member and session handlers share: the sealer of TOTP
//! secrets, the session lifetime and the sign-in failure limits.
//!
//! Sign-in failures are limited twice, per email and per client address
//! (GCRA from `governor`, 10 a minute as a burst), and only failures are
//! counted. Once over, every attempt for that email or from that address
//! is RESOURCE_EXHAUSTED until the quota refills, even with the right
//! password: otherwise the limit would only slow guessing down, and a
//! correct guess would still be told apart.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::sealing::MasterKey;
use crate::cache::Cache;
use crate::domain::networks::Networks;
use crate::error::{Error, Result};

/// Failures per minute allowed for one email or one client address.
pub const SIGN_IN_FAILURES_PER_MINUTE: u32 = 10;

/// One key's failure limit: a GCRA quota and who is over it until when.
struct Limit<K: std::hash::Hash + Eq + Clone + Send + Sync + 'static> {
    limiter: DefaultKeyedRateLimiter<K>,
    blocked: Cache<K, Instant>,
}

impl<K: std::hash::Hash + Eq + Clone + Send + Sync + 'static> Limit<K> {
    fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).expect("non-zero");
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n).allow_burst(n)),
            blocked: Cache::with_ttl(100_000, Duration::from_secs(60)),
        }
    }

    fn blocked(&self, key: &K) -> Option<Duration> {
        let until = self.blocked.get(key)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    fn failed(&self, key: K, clock: &DefaultClock) -> Option<Duration> {
        let wait = self
            .limiter
            .check_key(&key)
            .err()
            .map(|not_until| not_until.wait_time_from(clock.now()));
        if let Some(wait) = wait {
            self.blocked.insert(key, Instant::now() + wait);
        }
        wait
    }
}

/// Sign-in failure limits per email and per client address.
pub struct SignInLimiter {
    emails: Limit<String>,
    addresses: Limit<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for SignInLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInLimiter")
    }
}

impl SignInLimiter {
    /// `per_minute` failures per email and per address.
    pub fn new(per_minute: u32) -> Self {
        Self {
            emails: Limit::new(per_minute),
            addresses: Limit::new(per_minute),
            clock: DefaultClock::default(),
        }
    }

    /// RESOURCE_EXHAUSTED while the email or the address is over its quota.
    pub fn check(&self, email: &str, client: Option<IpAddr>) -> Result<()> {
        let wait = self
            .emails
            .blocked(&email.to_owned())
            .or_else(|| client.and_then(|ip| self.addresses.blocked(&ip)));
        match wait {
            Some(wait) => Err(too_many(wait)),
            None => Ok(()),
        }
    }

    /// Counts a failure; RESOURCE_EXHAUSTED if it put either over quota.
    pub fn failed(&self, email: &str, client: Option<IpAddr>) -> Result<()> {
        let by_email = self.emails.failed(email.to_owned(), &self.clock);
        let by_address = client.and_then(|ip| self.addresses.failed(ip, &self.clock));
        match by_email.or(by_address) {
            Some(wait) => Err(too_many(wait)),
            None => Ok(()),
        }
    }
}

fn too_many(wait: Duration) -> Error {
    Error::ResourceExhausted(format!(
        "too many failed sign-ins; retry in {} s",
        wait.as_secs().max(1)
    ))
}

/// Team access settings and state, shared by the handlers.
#[derive(Debug)]
pub struct Team {
    /// Seals members' TOTP secrets at rest (a key derived from the master
    /// key for this purpose alone).
    pub sealer: MasterKey,
    /// How long a session lasts (`--session-ttl`).
    pub session_ttl: Duration,
    /// Sign-in failure limits.
    pub sign_ins: SignInLimiter,
    /// Peers whose `x-forwarded-for` names the client (`--trusted-proxies`).
    pub trusted_proxies: Networks,
}

impl Team {
    /// The client address of a request from `peer` (a trusted proxy's
    /// `x-forwarded-for`, as for keys' allowed networks).
    pub fn client(&self, peer: Option<IpAddr>, forwarded: Option<&[u8]>) -> Option<IpAddr> {
        crate::domain::networks::client_address(peer, forwarded, &self.trusted_proxies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleventh_failure_blocks_email_and_address() {
        let limits = SignInLimiter::new(10);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..10 {
            limits.check("a@x.io", Some(ip)).unwrap();
            limits.failed("a@x.io", Some(ip)).unwrap();
        }
        assert!(limits.failed("a@x.io", Some(ip)).is_err());
        assert!(limits.check("a@x.io", None).is_err(), "by email");
        assert!(limits.check("b@x.io", Some(ip)).is_err(), "by address");
        assert!(limits.check("b@x.io", None).is_ok());
    }
}
