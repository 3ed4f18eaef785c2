//! `GetKeyUsage` and `GetEnvironmentUsage` (handlers of
//! `EnvironmentService`, kept apart from the key lifecycle).
//!
//! Counts are stored per key and UTC hour (see `crate::auth::usage_counters`); a
//! range is answered as every bucket of it, zeros included, oldest first,
//! days summing their 24 hours.

use std::collections::BTreeMap;

use tonic::{Request, Response, Status};

use super::AppState;
use crate::auth::context;
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::time::{now_micros, to_timestamp};
use crate::error::{Error, Result};
use crate::pb;
use crate::store::key_usage::{HOUR_MICROS, UsageCounts};

/// Most buckets one call returns.
pub const MAX_BUCKETS: i64 = 1_000;
/// One UTC day, µs.
const DAY_MICROS: i64 = 24 * HOUR_MICROS;
/// Buckets of an unset start: a day of hours, or 30 days.
const DEFAULT_HOURS: i64 = 24;
const DEFAULT_DAYS: i64 = 30;

/// A validated range: [`start`, `end`) on bucket boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: i64,
    end: i64,
    /// Bucket size, µs.
    step: i64,
}

impl Range {
    /// Parses the request's range: defaults, rounding, limits.
    fn parse(
        start: Option<&prost_types::Timestamp>,
        end: Option<&prost_types::Timestamp>,
        granularity: i32,
        now: i64,
    ) -> Result<Self> {
        let (step, default_buckets) = match pb::UsageGranularity::try_from(granularity) {
            Ok(pb::UsageGranularity::Unspecified | pb::UsageGranularity::Hour) => {
                (HOUR_MICROS, DEFAULT_HOURS)
            }
            Ok(pb::UsageGranularity::Day) => (DAY_MICROS, DEFAULT_DAYS),
            Err(_) => return Err(Error::invalid("granularity", "unknown granularity")),
        };
        let end = end
            .map(|t| micros("end_time", t))
            .transpose()?
            .unwrap_or(now);
        let round_up = |t: i64| {
            t.checked_add(step - 1)
                .map(|e| e.div_euclid(step) * step)
                .ok_or_else(|| Error::invalid("end_time", "is out of range"))
        };
        let start = match start {
            Some(t) => micros("start_time", t)?,
            // Exactly that many buckets, the one holding `end` last.
            None => round_up(end)? - default_buckets * step,
        };
        if start >= end {
            return Err(Error::invalid("start_time", "must be before end_time"));
        }
        let start = start.div_euclid(step) * step;
        let end = round_up(end)?;
        if (end - start) / step > MAX_BUCKETS {
            return Err(Error::invalid(
                "start_time",
                format!("the range may hold at most {MAX_BUCKETS} buckets"),
            ));
        }
        Ok(Self { start, end, step })
    }

    /// Every bucket of the range from stored hours.
    fn buckets(&self, hours: &BTreeMap<i64, UsageCounts>) -> Vec<pb::UsageBucket> {
        let mut sums: Vec<UsageCounts> = vec![UsageCounts::default(); self.len()];
        for (&hour, counts) in hours.range(self.start..self.end) {
            sums[((hour - self.start) / self.step) as usize] += *counts;
        }
        sums.into_iter()
            .enumerate()
            .map(|(i, c)| bucket(self.start + i as i64 * self.step, &c))
            .collect()
    }

    fn len(&self) -> usize {
        ((self.end - self.start) / self.step) as usize
    }
}

/// A timestamp in µs, or INVALID_ARGUMENT naming `field`.
fn micros(field: &str, t: &prost_types::Timestamp) -> Result<i64> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Error::invalid(
            field,
            "nanos must be between 0 and 999999999",
        ));
    }
    t.seconds
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(i64::from(t.nanos / 1_000)))
        .filter(|m| *m >= 0)
        .ok_or_else(|| Error::invalid(field, "is out of range"))
}

fn bucket(start: i64, c: &UsageCounts) -> pb::UsageBucket {
    pb::UsageBucket {
        start_time: Some(to_timestamp(start)),
        success_count: c.success,
        failure_count: c.failures(),
        minted_token_count: c.minted,
        revoked_count: c.revoked,
        expired_count: c.expired,
        not_allowed_network_count: c.not_allowed_network,
        permission_denied_count: c.permission_denied,
    }
}

/// `EnvironmentService.GetKeyUsage`.
pub(super) async fn get_key_usage(
    state: &AppState,
    request: Request<pb::GetKeyUsageRequest>,
) -> Result<Response<pb::GetKeyUsageResponse>, Status> {
    let admin = context::admin(&request)?;
    let req = request.get_ref();
    let key_id = KeyId::parse("key_id", &req.key_id)?;
    let range = Range::parse(
        req.start_time.as_ref(),
        req.end_time.as_ref(),
        req.granularity,
        now_micros(),
    )?;
    let hours = admin
        .store(&state.store)
        .key_usage(&key_id, range.start, range.end)
        .await?;
    Ok(Response::new(pb::GetKeyUsageResponse {
        buckets: range.buckets(&hours),
    }))
}

/// `EnvironmentService.GetEnvironmentUsage`.
pub(super) async fn get_environment_usage(
    state: &AppState,
    request: Request<pb::GetEnvironmentUsageRequest>,
) -> Result<Response<pb::GetEnvironmentUsageResponse>, Status> {
    let admin = context::admin(&request)?;
    let req = request.get_ref();
    let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
    let range = Range::parse(
        req.start_time.as_ref(),
        req.end_time.as_ref(),
        req.granularity,
        now_micros(),
    )?;
    let hours = admin
        .store(&state.store)
        .environment_usage(&env_id, range.start, range.end)
        .await?;
    Ok(Response::new(pb::GetEnvironmentUsageResponse {
        buckets: range.buckets(&hours),
    }))
}

/// Start of the 24 hours `ListKeys` counts successes over: the current
/// hour and the 23 before.
pub(super) fn day_ago_bucket(now: i64) -> i64 {
    now.div_euclid(HOUR_MICROS) * HOUR_MICROS - 23 * HOUR_MICROS
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MICROS;
    fn ts(micros: i64) -> prost_types::Timestamp {
        to_timestamp(micros)
    }
    const HOUR: i32 = pb::UsageGranularity::Hour as i32;
    const DAY: i32 = pb::UsageGranularity::Day as i32;

    #[test]
    fn defaults_and_rounding() {
        let now = 1_000 * H + 123;
        let r = Range::parse(None, None, 0, now).unwrap();
        assert_eq!((r.start, r.end, r.step), (977 * H, 1_001 * H, H));
        assert_eq!(r.len(), 24, "the current hour and the 23 before");
        let r = Range::parse(Some(&ts(10 * H + 5)), Some(&ts(12 * H)), HOUR, now).unwrap();
        assert_eq!((r.start, r.end), (10 * H, 12 * H));
        let r = Range::parse(None, Some(&ts(40 * DAY_MICROS)), DAY, now).unwrap();
        assert_eq!(
            (r.start, r.end, r.len()),
            (10 * DAY_MICROS, 40 * DAY_MICROS, 30)
        );
    }

    #[test]
    fn invalid_ranges() {
        let now = 5_000 * H;
        assert!(Range::parse(Some(&ts(3 * H)), Some(&ts(3 * H)), HOUR, now).is_err());
        assert!(Range::parse(Some(&ts(4 * H)), Some(&ts(3 * H)), HOUR, now).is_err());
        assert!(Range::parse(Some(&ts(0)), Some(&ts(1_000 * H)), HOUR, now).is_ok());
        assert!(Range::parse(Some(&ts(0)), Some(&ts(1_000 * H + 1)), HOUR, now).is_err());
        assert!(Range::parse(None, None, 7, now).is_err());
    }

    #[test]
    fn days_sum_their_hours_and_empty_buckets_are_zeros() {
        let r = Range::parse(Some(&ts(0)), Some(&ts(2 * DAY_MICROS)), DAY, 0).unwrap();
        let one = UsageCounts {
            success: 1,
            revoked: 1,
            ..UsageCounts::default()
        };
        let hours = BTreeMap::from([(H, one), (2 * H, one), (2 * DAY_MICROS, one)]);
        let buckets = r.buckets(&hours);
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[0].success_count, 2);
        assert_eq!(buckets[0].failure_count, 2);
        assert_eq!(buckets[1].success_count, 0);
    }
}
