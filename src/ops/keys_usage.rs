//! `pulse keys usage KEY [--since 24h] [--granularity hour|day] [--json]`:
//! a key's usage per bucket (successes, failures, tokens minted) as a
//! table with a sparkline of successes, or JSON.

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use serde_json::json;

use super::output::{Table, time};
use crate::pb;

/// `pulse keys usage …`
#[derive(Debug, Args)]
pub struct KeyUsage {
    /// The key's id, `key_…`.
    pub key_id: String,
    /// How far back: `<n>h` or `<n>d` (e.g. `24h`, `7d`); the current
    /// bucket is the last one.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Bucket size.
    #[arg(long, value_enum, default_value_t = Granularity::Hour)]
    pub granularity: Granularity,
}

/// Bucket size of `pulse keys usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Granularity {
    /// One bucket per UTC hour.
    Hour,
    /// One bucket per UTC day.
    Day,
}

/// `24h` / `7d` → seconds.
fn parse_since(since: &str) -> anyhow::Result<i64> {
    let bad = || anyhow!("--since: expected <n>h or <n>d, e.g. 24h or 7d, got {since:?}");
    let (n, unit) = since.split_at(since.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit = match unit {
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).filter(|s| *s > 0).ok_or_else(bad)
}

/// A sparkline of `values`, one character each, scaled to the largest.
fn sparkline(values: &[i64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&v| match v {
            ..=0 => ' ',
            v => BARS[(v * 7 / max).clamp(0, 7) as usize],
        })
        .collect()
}

/// The request of `pulse keys usage`: whole buckets, the current one last
/// (`--since 6h` is six hours).
pub fn request(args: &KeyUsage) -> anyhow::Result<pb::GetKeyUsageRequest> {
    let step = match args.granularity {
        Granularity::Hour => 3600,
        Granularity::Day => 86_400,
    };
    let since = parse_since(&args.since)?;
    let buckets = (since + step - 1) / step;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let start = now / step * step - (buckets - 1) * step;
    Ok(pb::GetKeyUsageRequest {
        key_id: args.key_id.clone(),
        start_time: Some(prost_types::Timestamp {
            seconds: start,
            nanos: 0,
        }),
        end_time: None,
        granularity: match args.granularity {
            Granularity::Hour => pb::UsageGranularity::Hour,
            Granularity::Day => pb::UsageGranularity::Day,
        } as i32,
    })
}

/// Prints the buckets: a table and a sparkline of successes, or JSON.
pub fn print(buckets: &[pb::UsageBucket], as_json: bool) {
    if as_json {
        let rows: Vec<_> = buckets
            .iter()
            .map(|b| {
                json!({
                    "start_time": time(&b.start_time),
                    "success": b.success_count,
                    "failures": b.failure_count,
                    "minted": b.minted_token_count,
                    "revoked": b.revoked_count,
                    "expired": b.expired_count,
                    "not_allowed_network": b.not_allowed_network_count,
                    "permission_denied": b.permission_denied_count,
                })
            })
            .collect();
        println!("{}", json!(rows));
        return;
    }
    let mut table = Table::new(["BUCKET", "SUCCESS", "FAILURES", "MINTED"]);
    for b in buckets {
        table.row([
            time(&b.start_time),
            b.success_count.to_string(),
            b.failure_count.to_string(),
            b.minted_token_count.to_string(),
        ]);
    }
    table.print();
    let successes: Vec<i64> = buckets.iter().map(|b| b.success_count).collect();
    println!(
        "successes  {}  (total {})",
        sparkline(&successes),
        successes.iter().sum::<i64>()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_and_sparkline() {
        assert_eq!(parse_since("24h").unwrap(), 86_400);
        assert_eq!(parse_since("7d").unwrap(), 604_800);
        assert!(parse_since("0h").is_err() && parse_since("h").is_err());
        assert!(parse_since("3w").is_err() && parse_since("").is_err());
        assert_eq!(sparkline(&[0, 1, 4, 8]), " ▁▄█");
    }
}
