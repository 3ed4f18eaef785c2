//! Per-key usage counters: counted on the request's path with one relaxed
//! atomic add and no lock, flushed to `key_usage` every second.
//!
//! Each API key has one [`UsageCell`] (six `AtomicU64`s on a cache line
//! of their own) in the [`UsageCounters`] registry. The key index hands
//! the cell to every cached record of the key ([`super::index::Resolved`]),
//! so a call counts through the record it already holds: no map lookup, no
//! lock. The registry (a few `RwLock`ed shards) is touched only when a key
//! is loaded from the database, when a token is minted, and by the flush.
//!
//! The flush ([`UsageCounters::flush`], every [`USAGE_FLUSH_EVERY`] and at
//! graceful shutdown) swaps every cell's counters to zero and adds the
//! non-zero ones to the current UTC hour in one transaction. If that
//! fails (the database is down), the counts are added back to the cells
//! and go with the next flush: nothing is lost while the process lives,
//! and memory stays one cell per key whatever the outage's length. What a
//! process that dies had not flushed (at most the last second, or the
//! outage) is lost. Counts are attributed to the hour of the flush that
//! wrote them (up to a second late at an hour's boundary; an outage's
//! counts land in the hour it ends).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::Result;
use crate::store::Store;
use crate::store::key_usage::{UsageCounts, UsageDelta, hour_of};

/// How often counts are written.
pub const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Registry shards: enough that loads of different keys rarely meet.
const SHARDS: usize = 16;

/// What happened with a key, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The key authenticated the call.
    Success = 0,
    /// Refused: the key, or the key that minted the user token, was revoked.
    Revoked = 1,
    /// Refused: the key had expired.
    Expired = 2,
    /// Refused: the call came from outside the key's networks.
    NotAllowedNetwork = 3,
    /// Refused: a restricted key without the RPC's permission.
    PermissionDenied = 4,
    /// The key minted a user token.
    Minted = 5,
}

/// One key's counters since the last flush.
#[derive(Debug)]
#[repr(align(64))]
pub struct UsageCell {
    /// The key's environment (the row's tenant).
    environment_id: Box<str>,
    /// By [`Outcome`].
    counts: [AtomicU64; 6],
}

impl UsageCell {
    fn new(environment_id: &str) -> Self {
        Self {
            environment_id: environment_id.into(),
            counts: Default::default(),
        }
    }

    /// Counts one `outcome`: a relaxed atomic add.
    #[inline]
    pub fn add(&self, outcome: Outcome) {
        self.counts[outcome as usize].fetch_add(1, Relaxed);
    }

    /// Takes the counts, leaving zeros.
    fn take(&self) -> UsageCounts {
        let n = |o: Outcome| {
            i64::try_from(self.counts[o as usize].swap(0, Relaxed)).unwrap_or(i64::MAX)
        };
        UsageCounts {
            success: n(Outcome::Success),
            revoked: n(Outcome::Revoked),
            expired: n(Outcome::Expired),
            not_allowed_network: n(Outcome::NotAllowedNetwork),
            permission_denied: n(Outcome::PermissionDenied),
            minted: n(Outcome::Minted),
        }
    }

    /// Adds counts back (a flush that failed).
    fn put_back(&self, c: &UsageCounts) {
        let add = |o: Outcome, n: i64| {
            if n > 0 {
                self.counts[o as usize].fetch_add(n as u64, Relaxed);
            }
        };
        add(Outcome::Success, c.success);
        add(Outcome::Revoked, c.revoked);
        add(Outcome::Expired, c.expired);
        add(Outcome::NotAllowedNetwork, c.not_allowed_network);
        add(Outcome::PermissionDenied, c.permission_denied);
        add(Outcome::Minted, c.minted);
    }

    fn is_zero(&self) -> bool {
        self.counts.iter().all(|c| c.load(Relaxed) == 0)
    }
}

type Shard = RwLock<HashMap<Box<str>, Arc<UsageCell>>>;

/// Every key's [`UsageCell`], by key id.
pub struct UsageCounters {
    shards: Box<[Shard]>,
    hasher: RandomState,
    /// Serializes flushes (the timer's and the shutdown's), so counts put
    /// back by one are never raced by the other's swap.
    flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for UsageCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageCounters").finish_non_exhaustive()
    }
}

impl Default for UsageCounters {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: RandomState::new(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }
}

impl UsageCounters {
    fn shard(&self, key_id: &str) -> &Shard {
        &self.shards[self.hasher.hash_one(key_id) as usize % SHARDS]
    }

    /// The key's cell (made on first use). Called when a key is loaded,
    /// not per call: the record keeps the cell.
    pub fn cell(&self, key_id: &str, environment_id: &str) -> Arc<UsageCell> {
        let shard = self.shard(key_id);
        if let Some(cell) = shard.read().expect("usage shard").get(key_id) {
            return cell.clone();
        }
        shard
            .write()
            .expect("usage shard")
            .entry(key_id.into())
            .or_insert_with(|| Arc::new(UsageCell::new(environment_id)))
            .clone()
    }

    /// Counts one `outcome` for a key without a record at hand (minting).
    pub fn count(&self, key_id: &str, environment_id: &str, outcome: Outcome) {
        self.cell(key_id, environment_id).add(outcome);
    }

    /// Takes every non-zero cell's counts, and forgets cells that are idle
    /// and held by no cached record.
    fn drain(&self) -> Vec<UsageDelta> {
        let mut deltas = Vec::new();
        for shard in &self.shards {
            let mut idle = false;
            for (key_id, cell) in shard.read().expect("usage shard").iter() {
                let counts = cell.take();
                if counts.is_zero() {
                    idle = true;
                    continue;
                }
                deltas.push(UsageDelta {
                    key_id: key_id.to_string(),
                    environment_id: cell.environment_id.to_string(),
                    counts,
                });
            }
            if idle {
                // Only the registry holds it (under the write lock nobody
                // can take a new reference), so nothing can count into it.
                shard
                    .write()
                    .expect("usage shard")
                    .retain(|_, cell| Arc::strong_count(cell) > 1 || !cell.is_zero());
            }
        }
        deltas
    }

    /// Adds counts that could not be written back to their cells.
    fn put_back(&self, deltas: &[UsageDelta]) {
        for d in deltas {
            self.cell(&d.key_id, &d.environment_id).put_back(&d.counts);
        }
    }

    /// Writes the counts since the last flush to the current hour; on
    /// failure keeps them for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<()> {
        let _one_at_a_time = self.flushing.lock().await;
        let deltas = self.drain();
        if deltas.is_empty() {
            return Ok(());
        }
        let bucket = hour_of(crate::domain::time::now_micros());
        match store.add_key_usage(bucket, &deltas).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.put_back(&deltas);
                Err(e)
            }
        }
    }

    /// Flushes every [`USAGE_FLUSH_EVERY`] for as long as the counters live.
    pub fn spawn_flusher(self: &Arc<Self>, store: Store) {
        let counters = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(USAGE_FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(counters) = counters.upgrade() else {
                    return;
                };
                if let Err(e) = counters.flush(&store).await {
                    tracing::warn!(error = %e, "could not write key usage; kept for the next flush");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_shared_taken_and_put_back() {
        let counters = UsageCounters::default();
        let cell = counters.cell("key_a", "env_1");
        cell.add(Outcome::Success);
        cell.add(Outcome::Success);
        counters.count("key_a", "env_1", Outcome::Minted);
        counters.count("key_b", "env_1", Outcome::Revoked);
        let mut deltas = counters.drain();
        deltas.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        assert_eq!(deltas.len(), 2);
        assert_eq!(deltas[0].counts.success, 2);
        assert_eq!(deltas[0].counts.minted, 1);
        assert_eq!(deltas[1].counts.revoked, 1);
        assert!(counters.drain().is_empty(), "taken means zero");
        counters.put_back(&deltas);
        cell.add(Outcome::Success);
        let again = counters.drain();
        let a = again.iter().find(|d| d.key_id == "key_a").unwrap();
        assert_eq!(a.counts.success, 3);
    }

    #[test]
    fn idle_cells_nobody_holds_are_forgotten() {
        let counters = UsageCounters::default();
        let held = counters.cell("key_held", "env");
        counters.count("key_gone", "env", Outcome::Success);
        counters.drain();
        counters.drain();
        let size: usize = counters
            .shards
            .iter()
            .map(|s| s.read().unwrap().len())
            .sum();
        assert_eq!(size, 1, "the held cell stays");
        held.add(Outcome::Success);
        assert_eq!(counters.drain()[0].counts.success, 1);
    }
}
