//! The key index: credential hash → stored record, kept in memory so the
//! hot path almost never waits on the database.
//!
//! - `entries`: found credentials in a `quick_cache` (CLOCK-Pro, sharded,
//!   a few words of overhead per entry and no bookkeeping on reads, which
//!   keeps hits fast and memory small at a million keys). Concurrent misses
//!   for one hash share a single database query (`get_or_insert_async`).
//!   An entry older than [`POSITIVE_TTL`] is reloaded.
//! - `absent`: unknown-but-well-formed credentials, for [`NEGATIVE_TTL`],
//!   so probing costs at most one query per key per TTL.
//! - `dead`: ids of credentials killed by this process or announced by
//!   another replica (revoked, rotated away, deleted). A credential never
//!   comes back to life, so a dead id is final. It is checked on every hit,
//!   which closes the race where a lookup that read the row *before* the
//!   revoking transaction committed puts the stale "active" record back into
//!   `entries` *after* we evicted it. Dead ids are kept for [`DEAD_TTL`],
//!   longer than an entry plus any lookup, so no stale entry outlives its
//!   tombstone.
//!
//! Kill is called after the transaction commits and before the RPC returns:
//! once `RotateKeys`/`RevokeKey` return, this process rejects the old key.
//!
//! Every database lookup (a miss) of a credential not seen working in the
//! last [`KNOWN_GOOD_TTL`] first passes the [`ColdLookups`] gate: a flood
//! of made-up credentials costs the database a bounded rate of queries,
//! and none at all from a peer over its failure quota. `known_good` only
//! exempts a lookup from that gate (the database still decides), so it
//! survives cache flushes and distrust: a working key is never gated
//! because a listener hiccup emptied the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use std::net::IpAddr;

use super::credential::{CredentialHash, ParsedCredential};
use super::ratelimit::{ColdLookups, FailedAuthLimiter};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::credentials::{self, CredentialRecord};

/// How long a found credential stays cached.
pub const POSITIVE_TTL: Duration = Duration::from_secs(300);
/// How long an unknown credential stays cached as absent.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// How long a killed id is remembered: longer than any entry can live.
pub const DEAD_TTL: Duration = Duration::from_secs(900);
/// A credential's `last_use_time` is written at most this often.
pub const USE_RECORD_EVERY: Duration = Duration::from_secs(60);
/// How often queued `last_use_time`s are written.
pub const USE_FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long a credential that resolved as working skips the cold-lookup
/// gate (refreshed by every reload, i.e. every [`POSITIVE_TTL`] of use).
pub const KNOWN_GOOD_TTL: Duration = Duration::from_secs(3600);
/// Cold lookups a second when no limit is configured (benches, tools).
pub const DEFAULT_COLD_LOOKUPS_PER_SECOND: u32 = 2000;
/// Bound on cached lookups.
const MAX_ENTRIES: usize = 2_000_000;

/// A resolved credential as cached: the stored record, compacted.
#[derive(Debug)]
pub struct Resolved {
    /// The key id (`key_…`) or admin token id (`adm_…`).
    pub id: Box<str>,
    /// The credential's kind.
    pub kind: super::credential::CredentialKind,
    /// The account it belongs to.
    pub account_id: Box<str>,
    /// The environment, for API keys.
    pub environment_id: Option<Box<str>>,
    /// When it is revoked, µs (possibly in the future: a grace period).
    pub revoke_at: Option<i64>,
    /// When it was loaded, in seconds since the index was created.
    loaded: u32,
    /// When this process last queued a `last_use_time` write for it, in
    /// seconds since the index was created (0: never).
    last_recorded: std::sync::atomic::AtomicU32,
}

/// In-memory credential index over the store.
pub struct KeyIndex {
    /// The database, for misses.
    store: Store,
    /// Reference point of `Resolved::loaded`.
    epoch: Instant,
    /// hash → found credential.
    entries: quick_cache::sync::Cache<CredentialHash, Arc<Resolved>>,
    /// hashes known not to exist.
    absent: moka::sync::Cache<CredentialHash, ()>,
    /// Ids of credentials that no longer work → when they died.
    dead: RwLock<HashMap<Box<str>, Instant>>,
    /// key id → (environment, active), for the minting keys of user tokens.
    by_id: moka::future::Cache<String, Option<(String, Option<i64>)>>,
    /// Credentials used since the last flush: id, kind, time (µs).
    pending_use: std::sync::Mutex<Vec<(Box<str>, super::credential::CredentialKind, i64)>>,
    /// Whether cached entries may be used. False while this replica cannot
    /// hear other replicas' revocations (see `cluster`): every lookup then
    /// goes to the database.
    trusted: AtomicBool,
    /// Credential resolutions, and how many of them queried the database
    /// (for the key-cache metrics).
    resolves: AtomicU64,
    lookups: AtomicU64,
    /// The gate in front of database lookups.
    cold: ColdLookups,
    /// Hashes that resolved to a working credential recently: their
    /// lookups skip the gate. Grants nothing by itself.
    known_good: moka::sync::Cache<CredentialHash, ()>,
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl KeyIndex {
    /// An empty index over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            epoch: Instant::now(),
            entries: quick_cache::sync::Cache::new(MAX_ENTRIES),
            absent: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES as u64)
                .time_to_live(NEGATIVE_TTL)
                .build(),
            dead: RwLock::new(HashMap::new()),
            by_id: moka::future::Cache::builder()
                .max_capacity(MAX_ENTRIES as u64)
                .time_to_live(POSITIVE_TTL)
                .build(),
            trusted: AtomicBool::new(true),
            resolves: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            pending_use: std::sync::Mutex::new(Vec::new()),
            cold: ColdLookups::new(
                DEFAULT_COLD_LOOKUPS_PER_SECOND,
                Arc::new(FailedAuthLimiter::new(u32::MAX, u32::MAX)),
            ),
            known_good: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES as u64)
                .time_to_live(KNOWN_GOOD_TTL)
                .build(),
        }
    }

    /// The same index with `cold` as the gate in front of database lookups.
    pub fn with_cold_lookups(mut self, cold: ColdLookups) -> Self {
        self.cold = cold;
        self
    }

    fn compact(&self, record: CredentialRecord) -> Arc<Resolved> {
        Arc::new(Resolved {
            id: record.id.into(),
            kind: record.kind,
            account_id: record.account_id.into(),
            environment_id: record.environment_id.map(Into::into),
            revoke_at: record.revoke_time,
            loaded: self.epoch.elapsed().as_secs() as u32,
            last_recorded: std::sync::atomic::AtomicU32::new(0),
        })
    }

    fn usable(&self, r: Arc<Resolved>) -> Option<Arc<Resolved>> {
        (!revoked(r.revoke_at) && !self.is_dead(&r.id)).then_some(r)
    }

    /// Resolves a well-formed credential to its active record; `None` if it
    /// is unknown, revoked or killed.
    pub async fn resolve(&self, cred: &ParsedCredential) -> Result<Option<Arc<Resolved>>> {
        self.resolve_from(cred, None).await
    }

    /// [`KeyIndex::resolve`] for a call from `peer`, whose database
    /// lookups (if any) pass the cold-lookup gate under its address.
    pub async fn resolve_from(
        &self,
        cred: &ParsedCredential,
        peer: Option<IpAddr>,
    ) -> Result<Option<Arc<Resolved>>> {
        let store = &self.store;
        self.resolves.fetch_add(1, Ordering::Relaxed);
        if !self.trusted() {
            let record = self.lookup(store, cred, peer).await?;
            return Ok(record.map(|r| self.compact(r)).and_then(|r| self.usable(r)));
        }
        if self.absent.contains_key(&cred.hash) {
            return Ok(None);
        }
        for _ in 0..2 {
            let entry = self
                .entries
                .get_or_insert_async(&cred.hash, async {
                    match self.lookup(store, cred, peer).await {
                        Ok(Some(record)) => Ok(self.compact(record)),
                        Ok(None) => Err(Error::NotFound("credential")),
                        Err(e) => Err(e),
                    }
                })
                .await;
            match entry {
                Ok(r)
                    if self.epoch.elapsed().as_secs() as u32 - r.loaded
                        > POSITIVE_TTL.as_secs() as u32 =>
                {
                    // Stale: drop it and load again.
                    self.entries.remove(&cred.hash);
                }
                Ok(r) => return Ok(self.usable(r)),
                Err(Error::NotFound(_)) => {
                    self.absent.insert(cred.hash, ());
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        let record = self.lookup(store, cred, peer).await?;
        Ok(record.map(|r| self.compact(r)).and_then(|r| self.usable(r)))
    }

    async fn lookup(
        &self,
        store: &Store,
        cred: &ParsedCredential,
        peer: Option<IpAddr>,
    ) -> Result<Option<CredentialRecord>> {
        if !self.known_good.contains_key(&cred.hash) {
            self.cold.admit(peer).await?;
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let record = credentials::lookup(store, cred).await?;
        if record.as_ref().is_some_and(|r| !revoked(r.revoke_time)) {
            self.known_good.insert(cred.hash, ());
        }
        Ok(record)
    }

    /// (served from memory, read from the database) since start.
    pub fn cache_stats(&self) -> (u64, u64) {
        let resolves = self.resolves.load(Ordering::Relaxed);
        let lookups = self.lookups.load(Ordering::Relaxed);
        (resolves.saturating_sub(lookups), lookups)
    }

    /// Whether the API key `key_id` exists, belongs to `environment_id` and
    /// is active: the check that kills user tokens with their minting key.
    pub async fn key_active(&self, key_id: &str, environment_id: &str) -> Result<bool> {
        if self.is_dead(key_id) {
            return Ok(false);
        }
        let store = &self.store;
        if !self.trusted() {
            let state = credentials::key_state(store, key_id).await?;
            return Ok(
                matches!(state, Some((env, revoke)) if env == environment_id && !revoked(revoke)),
            );
        }
        let id = key_id.to_owned();
        let state = self
            .by_id
            .try_get_with(id.clone(), async move {
                credentials::key_state(store, &id).await
            })
            .await
            .map_err(shared_error)?;
        Ok(
            matches!(state, Some((env, revoke)) if env == environment_id && !revoked(revoke))
                && !self.is_dead(key_id),
        )
    }

    /// Drops cached lookups so they are read again (a revocation was
    /// scheduled for later: the credential still works until then).
    pub async fn evict(&self, evicted: Vec<(String, String)>) {
        for (id, hash_hex) in evicted {
            self.by_id.invalidate(&id).await;
            if let Some(hash) = parse_hex(&hash_hex) {
                self.entries.remove(&hash);
            }
        }
    }

    /// Notes that a credential authenticated a call. Queues a
    /// `last_use_time` write at most once a minute per credential (per
    /// process); the write itself happens in the background
    /// ([`KeyIndex::spawn_usage_writer`]), never on the request's path.
    pub fn touch(&self, r: &Resolved) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.epoch.elapsed().as_secs() as u32 + 1;
        let last = r.last_recorded.load(Relaxed);
        if last != 0 && now - last < USE_RECORD_EVERY.as_secs() as u32 {
            return;
        }
        if r.last_recorded
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_ok()
        {
            let at = crate::domain::time::now_micros();
            self.pending_use
                .lock()
                .expect("pending lock")
                .push((r.id.clone(), r.kind, at));
        }
    }

    /// Writes queued `last_use_time`s every [`USE_FLUSH_EVERY`], batched.
    pub fn spawn_usage_writer(self: &Arc<Self>) {
        let index = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(USE_FLUSH_EVERY);
            loop {
                tick.tick().await;
                let Some(index) = index.upgrade() else { return };
                let batch = std::mem::take(&mut *index.pending_use.lock().expect("pending lock"));
                if !batch.is_empty()
                    && let Err(e) = credentials::record_use(&index.store, &batch).await
                {
                    // Best effort: usage times are informational.
                    tracing::debug!(error = %e, "could not record last use times");
                }
            }
        });
    }

    /// Whether cached entries are used.
    pub fn trusted(&self) -> bool {
        self.trusted.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Trusts or distrusts the cache (the cluster's listener health).
    pub fn set_trusted(&self, trusted: bool) {
        self.trusted
            .store(trusted, std::sync::atomic::Ordering::Release);
    }

    /// Drops every cached lookup (not the dead set, which is never wrong).
    pub async fn flush(&self) {
        self.entries.clear();
        self.absent.invalidate_all();
        self.by_id.invalidate_all();
    }

    /// The store behind the index.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the credential id was killed.
    pub fn is_dead(&self, id: &str) -> bool {
        let dead = self.dead.read().expect("dead lock");
        !dead.is_empty() && dead.contains_key(id)
    }

    /// Marks credentials as no longer working. Call after the transaction
    /// that revoked them committed; `hashes` are hex SHA-256 as stored.
    pub async fn kill(&self, killed: Vec<(String, String)>) {
        let now = Instant::now();
        {
            let mut dead = self.dead.write().expect("dead lock");
            // Forget tombstones older than any cache entry can be.
            dead.retain(|_, since| now.duration_since(*since) < DEAD_TTL);
            for (id, _) in &killed {
                dead.insert(id.as_str().into(), now);
            }
        }
        for (id, hash_hex) in killed {
            self.by_id.invalidate(&id).await;
            if let Some(hash) = parse_hex(&hash_hex) {
                self.entries.remove(&hash);
            }
        }
    }
}

/// Whether a revocation time has come.
fn revoked(revoke_at: Option<i64>) -> bool {
    revoke_at.is_some_and(|t| t <= crate::domain::time::now_micros())
}

/// moka shares a loader's error among waiters behind an `Arc`.
fn shared_error(err: Arc<Error>) -> Error {
    match &*err {
        Error::Unavailable(detail) => Error::Unavailable(detail.clone()),
        other => Error::internal(other),
    }
}

fn parse_hex(hex: &str) -> Option<CredentialHash> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credential::{hash, hash_hex};

    #[test]
    fn hex_round_trip() {
        let h = hash("x");
        assert_eq!(parse_hex(&hash_hex(&h)), Some(h));
        assert_eq!(parse_hex("zz"), None);
    }
}
