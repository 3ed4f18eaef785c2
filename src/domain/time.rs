//! Time as stored: microseconds since the Unix epoch in a BIGINT column.
//!
//! An integer is portable across SQLite and PostgreSQL, sorts correctly and
//! converts losslessly to `google.protobuf.Timestamp`.
//!
//! Tests move this process's clock forward with [`advance`] instead of
//! sleeping until a key, token or session expires (`tests/clock/`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far [`advance`] has moved this process's clock, µs: always 0 in a
/// server (nothing but a test calls `advance`).
static OFFSET_MICROS: AtomicI64 = AtomicI64::new(0);

/// Now, in microseconds since the Unix epoch (plus any [`advance`]).
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
        + OFFSET_MICROS.load(Ordering::Relaxed)
}

/// Moves this process's clock (every [`now_micros`]) forward by `by`, for
/// tests of expiry and grace periods. Only a Rust caller in the same
/// process can call it: no RPC, flag or environment variable reaches it.
/// Clocks only move forward. What measures time with `Instant` (cache
/// TTLs, flush intervals, rate limits) is not moved.
pub fn advance(by: Duration) {
    let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
    OFFSET_MICROS.fetch_add(micros, Ordering::Relaxed);
}

/// The earlier of two optional instants (`None`: never): when something
/// that ends for two reasons (revoked, expired) ends.
pub fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Converts stored microseconds to a protobuf timestamp.
pub fn to_timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Longest a key may be made to live with an expiry: ten years.
const MAX_EXPIRY_MICROS: i64 = 10 * 366 * 24 * 3600 * 1_000_000;

/// Validates a requested expiry: a well-formed timestamp in the future and
/// at most ten years away. Returns it in microseconds.
pub fn parse_expire_time(
    field: &str,
    t: &prost_types::Timestamp,
    now: i64,
) -> Result<i64, crate::error::Error> {
    let invalid = |why: &str| crate::error::Error::invalid(field, why);
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(invalid("nanos must be between 0 and 999999999"));
    }
    let micros = t
        .seconds
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(i64::from(t.nanos / 1_000)))
        .ok_or_else(|| invalid("is out of range"))?;
    if micros <= now {
        return Err(invalid("must be in the future"));
    }
    if micros - now > MAX_EXPIRY_MICROS {
        return Err(invalid("must be at most ten years from now"));
    }
    Ok(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_times() {
        let now = 1_800_000_000_000_000;
        let at = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        assert_eq!(
            parse_expire_time("t", &at(1_800_000_060, 0), now).unwrap(),
            now + 60_000_000
        );
        assert!(parse_expire_time("t", &at(1_799_999_999, 0), now).is_err());
        assert!(parse_expire_time("t", &at(1_800_000_060, -1), now).is_err());
        assert!(parse_expire_time("t", &at(i64::MAX, 0), now).is_err());
        assert!(parse_expire_time("t", &at(1_800_000_000 + 11 * 366 * 86400, 0), now).is_err());
    }
}
