//! The key index: credential hash → stored record, kept in memory so the
//! hot path almost never waits on the database.
//!
//! Every cache here is a [`crate::cache::Cache`] (quick_cache with
//! deadlines; see `docs/design.md`, "Caches"):
//! - `entries`: found credentials, each for [`POSITIVE_TTL`]. Concurrent
//!   misses for one hash share a single database query.
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
//! - `by_id`: the minting key of user tokens, by key id.
//! - `known_good`: hashes seen working in the last [`KNOWN_GOOD_TTL`].
//!
//! Kill is called after the transaction commits and before the RPC returns
//! (see `crate::store::revocation`): once `RotateKeys`/`RevokeKey` return,
//! this process rejects the old key.
//!
//! Every database lookup (a miss) of a credential not seen working in the
//! last [`KNOWN_GOOD_TTL`] first passes the [`ColdLookups`] gate: a flood
//! of made-up credentials costs the database a bounded rate of queries,
//! and none at all from a peer over its failure quota. `known_good` only
//! exempts a lookup from that gate (the database still decides), so it
//! survives cache flushes and distrust: a working key is never gated
//! because a listener hiccup emptied the cache.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::ratelimit::{ColdLookups, FailedAuthLimiter};
use super::usage_counters::{Outcome, UsageCell, UsageCounters};
use crate::cache::Cache;
use crate::domain::credential::{CredentialHash, CredentialKind, ParsedCredential};
use crate::domain::networks::Networks;
use crate::domain::permissions::Permissions;
use crate::domain::rooms::RoomAcl;
use crate::domain::scope::EnvironmentScope;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::credentials::{CredentialRecord, KeyState, Use};
use crate::store::revocation::{DeadCredential, RoomChange, UserRevocation};

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

/// Rooms whose stored accesses are kept (a room holds at most 1,000
/// entries; most hold a few).
const MAX_ROOM_ACLS: usize = 50_000;

/// A resolved credential as cached: the stored record, compacted.
#[derive(Debug)]
pub struct Resolved {
    /// The key id (`key_…`) or admin token id (`adm_…`).
    pub id: Box<str>,
    /// The credential's kind.
    pub kind: CredentialKind,
    /// The account it belongs to.
    pub account_id: Box<str>,
    /// The environment, for API keys.
    pub environment_id: Option<Box<str>>,
    /// When it is revoked, µs (possibly in the future: a grace period).
    pub revoke_at: Option<i64>,
    /// Restricted keys: what they may do; `None`: all their kind allows.
    pub permissions: Option<Permissions>,
    /// Where the credential may be used from (empty: anywhere).
    pub networks: Networks,
    /// When the key expires by itself, µs (`revoke_at` is the earlier of
    /// this and its revocation).
    pub expire_at: Option<i64>,
    /// The key's usage counters (see `super::usage`); `None` for admin tokens.
    pub usage: Option<Arc<UsageCell>>,
    /// Admin credentials: role and environment scope.
    pub grant: Option<crate::domain::roles::Grant>,
    /// Sessions: the member signed in.
    pub member: Option<Arc<crate::domain::roles::MemberIdentity>>,
    /// Admin credentials: their account.
    pub account: Option<Arc<crate::domain::roles::AccountProfile>>,
    /// When this process last queued a `last_use_time` write for it, in
    /// seconds since the index was created (0: never).
    last_recorded: std::sync::atomic::AtomicU32,
}

/// In-memory credential index over the store.
pub struct KeyIndex {
    /// The database, for misses.
    store: Store,
    /// Reference point of `Resolved::last_recorded`.
    epoch: Instant,
    /// hash → found credential.
    entries: Cache<CredentialHash, Arc<Resolved>>,
    /// hashes known not to exist.
    absent: Cache<CredentialHash, ()>,
    /// Ids of credentials that no longer work.
    dead: Cache<Box<str>, ()>,
    /// key id → its environment and end, for the minting keys of user tokens.
    by_id: Cache<String, Option<KeyState>>,
    /// `environment\0user` → before when (µs) the user's tokens are
    /// refused (`None`: never revoked). Set directly by revocations, here
    /// and (through the cluster) on every replica.
    not_before: Cache<String, Option<i64>>,
    /// `environment\0room` → the room's stored accesses (STORED-mode user
    /// tokens). Evicted on every replica by `UpdateRoomAccess` and
    /// `DeleteRoom` before they return; rooms that do not exist are not
    /// remembered (a new room needs no eviction).
    room_acls: Cache<String, Arc<RoomAcl>>,
    /// Per-key usage counts since the last flush.
    usage: Arc<UsageCounters>,
    /// Credentials used since the last flush.
    pending_use: std::sync::Mutex<Vec<Use>>,
    /// Whether cached entries may be used. False while this replica cannot
    /// hear other replicas' revocations (see `cluster`): every lookup then
    /// goes to the database.
    trusted: AtomicBool,
    /// Bumped by every kill, eviction, flush and change of trust: decisions
    /// cached above the index (see `super::decisions`) are valid only for
    /// the generation they were made in.
    generation: AtomicU64,
    /// Credential resolutions, and how many of them queried the database
    /// (for the key-cache metrics).
    resolves: AtomicU64,
    lookups: AtomicU64,
    /// The gate in front of database lookups.
    cold: ColdLookups,
    /// Hashes that resolved to a working credential recently: their
    /// lookups skip the gate. Grants nothing by itself.
    known_good: Cache<CredentialHash, ()>,
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
            entries: Cache::with_ttl(MAX_ENTRIES, POSITIVE_TTL),
            absent: Cache::with_ttl(MAX_ENTRIES, NEGATIVE_TTL),
            dead: Cache::with_ttl(MAX_ENTRIES, DEAD_TTL),
            by_id: Cache::with_ttl(MAX_ENTRIES, POSITIVE_TTL),
            not_before: Cache::with_ttl(MAX_ENTRIES, POSITIVE_TTL),
            room_acls: Cache::with_ttl(MAX_ROOM_ACLS, POSITIVE_TTL),
            trusted: AtomicBool::new(true),
            generation: AtomicU64::new(0),
            resolves: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            pending_use: std::sync::Mutex::new(Vec::new()),
            usage: Arc::default(),
            cold: ColdLookups::new(
                DEFAULT_COLD_LOOKUPS_PER_SECOND,
                Arc::new(FailedAuthLimiter::new(u32::MAX, u32::MAX)),
            ),
            known_good: Cache::with_ttl(MAX_ENTRIES, KNOWN_GOOD_TTL),
        }
    }

    /// The same index with `cold` as the gate in front of database lookups.
    pub fn with_cold_lookups(mut self, cold: ColdLookups) -> Self {
        self.cold = cold;
        self
    }

    fn compact(&self, record: CredentialRecord) -> Arc<Resolved> {
        let usage = match (record.kind, &record.environment_id) {
            (CredentialKind::Admin | CredentialKind::Session, _) | (_, None) => None,
            (_, Some(env)) => Some(self.usage.cell(&record.id, env)),
        };
        Arc::new(Resolved {
            expire_at: record.expire_time,
            usage,
            id: record.id.into(),
            kind: record.kind,
            account_id: record.account_id.into(),
            environment_id: record.environment_id.map(Into::into),
            revoke_at: record.revoke_time,
            permissions: record.permissions,
            networks: record.networks,
            grant: record.grant,
            member: record.member,
            account: record.account,
            last_recorded: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// A found record: working, or ended (and why, for usage counts).
    fn found(&self, r: Arc<Resolved>) -> Resolution {
        if self.is_dead(&r.id) {
            return Resolution::Ended(r, Outcome::Revoked);
        }
        if !revoked(r.revoke_at) {
            return Resolution::Working(r);
        }
        // Ended by whichever came first: its expiry or its revocation.
        let why = if r.expire_at.is_some() && r.expire_at == r.revoke_at {
            Outcome::Expired
        } else {
            Outcome::Revoked
        };
        Resolution::Ended(r, why)
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
        Ok(match self.resolve_detailed(cred, peer).await? {
            Resolution::Working(r) => Some(r),
            Resolution::Ended(..) | Resolution::Unknown => None,
        })
    }

    /// [`KeyIndex::resolve_from`], telling a key that stopped working
    /// (revoked, rotated away, expired) from an unknown credential.
    pub async fn resolve_detailed(
        &self,
        cred: &ParsedCredential,
        peer: Option<IpAddr>,
    ) -> Result<Resolution> {
        let store = &self.store;
        self.resolves.fetch_add(1, Ordering::Relaxed);
        if !self.trusted() {
            let record = self.lookup(store, cred, peer).await?;
            return Ok(record.map_or(Resolution::Unknown, |r| self.found(self.compact(r))));
        }
        if self.absent.contains_key(&cred.hash) {
            return Ok(Resolution::Unknown);
        }
        // A row read before a revocation took effect here must not be
        // cached after it: a load that saw the generation change is used
        // once and not kept.
        let generation = self.generation();
        let entry = self
            .entries
            .get_or_try_insert_with(&cred.hash, async {
                match self.lookup(store, cred, peer).await {
                    Ok(Some(record)) if self.generation() == generation => Ok(self.compact(record)),
                    Ok(Some(record)) => Err(Load::Stale(self.compact(record))),
                    Ok(None) => Err(Load::Absent),
                    Err(e) => Err(Load::Failed(e)),
                }
            })
            .await;
        match entry {
            Ok(r) | Err(Load::Stale(r)) => Ok(self.found(r)),
            Err(Load::Absent) => {
                self.absent.insert(cred.hash, ());
                Ok(Resolution::Unknown)
            }
            Err(Load::Failed(e)) => Err(e),
        }
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
        let record = store.lookup_credential(cred).await?;
        if record.as_ref().is_some_and(|r| !revoked(r.revoke_time)) {
            self.known_good.insert(cred.hash, ());
        }
        Ok(record)
    }

    /// Counts a resolution answered above the index, from memory (a
    /// remembered decision; see `super::decisions`).
    pub fn count_memory_hit(&self) {
        self.resolves.fetch_add(1, Ordering::Relaxed);
    }

    /// (served from memory, read from the database) since start.
    pub fn cache_stats(&self) -> (u64, u64) {
        let resolves = self.resolves.load(Ordering::Relaxed);
        let lookups = self.lookups.load(Ordering::Relaxed);
        (resolves.saturating_sub(lookups), lookups)
    }

    /// Whether the API key `key_id` exists, belongs to `environment_id` and
    /// is active — the check that kills user tokens with their minting key
    /// — and if so until when: `Some(end)` (µs; `None`: no end), or `None`
    /// when it does not work.
    pub async fn key_working_until(
        &self,
        key_id: &str,
        environment_id: &str,
    ) -> Result<Option<Option<i64>>> {
        if self.is_dead(key_id) {
            return Ok(None);
        }
        let store = &self.store;
        let state = if self.trusted() {
            // As in `resolve_from`: a load that raced a revocation is not kept.
            let generation = self.generation();
            let loaded = self
                .by_id
                .get_or_try_insert_with(key_id, async {
                    match store.key_state(key_id).await {
                        Ok(state) if self.generation() == generation => Ok(state),
                        Ok(state) => Err(Load::Stale(state)),
                        Err(e) => Err(Load::Failed(e)),
                    }
                })
                .await;
            match loaded {
                Ok(state) | Err(Load::Stale(state)) => state,
                Err(Load::Absent) => None,
                Err(Load::Failed(e)) => return Err(e),
            }
        } else {
            store.key_state(key_id).await?
        };
        Ok(state
            .filter(|s| s.environment_id == environment_id && !revoked(s.end_time))
            .filter(|_| !self.is_dead(key_id))
            .map(|s| s.end_time))
    }

    /// Before when (seconds since the epoch) the user's tokens are refused
    /// in the scope's environment; `None` if they never were revoked.
    /// Cached like keys: a revocation sets the value here and on every
    /// replica before its RPC returns.
    pub async fn user_not_before(
        &self,
        scope: &EnvironmentScope,
        user_id: &str,
    ) -> Result<Option<i64>> {
        let store = self.store.environment(scope);
        if !self.trusted() {
            return store.user_tokens_not_before(user_id).await;
        }
        let key = user_key(scope.environment_id().as_str(), user_id);
        let generation = self.generation();
        let loaded = self
            .not_before
            .get_or_try_insert_with(key.as_str(), async {
                match store.user_tokens_not_before(user_id).await {
                    Ok(state) if self.generation() == generation => Ok(state),
                    Ok(state) => Err(Load::Stale(state)),
                    Err(e) => Err(Load::Failed(e)),
                }
            })
            .await;
        match loaded {
            Ok(state) | Err(Load::Stale(state)) => Ok(state),
            Err(Load::Absent) => Ok(None),
            Err(Load::Failed(e)) => Err(e),
        }
    }

    /// Applies committed user-token revocations (this process's, or another
    /// replica's announced ones): from now on, tokens issued before each
    /// `not_before` are refused.
    pub fn revoke_users(&self, revoked: &[UserRevocation]) {
        if revoked.is_empty() {
            return;
        }
        for r in revoked {
            let key = user_key(&r.environment_id, &r.user_id);
            // Never move the line back (an older announcement arriving late).
            let current = self.not_before.get(key.as_str()).flatten().unwrap_or(0);
            self.not_before.insert(key, Some(r.not_before.max(current)));
        }
        self.bump();
    }

    /// Drops cached lookups so they are read again (a revocation was
    /// scheduled for later: the credential still works until then).
    pub async fn evict(&self, evicted: &[DeadCredential]) {
        for credential in evicted {
            self.by_id.remove(credential.id.as_str());
            self.entries.remove(&credential.hash);
        }
        self.bump();
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
            self.pending_use.lock().expect("pending lock").push(Use {
                id: r.id.clone(),
                kind: r.kind,
                at,
            });
        }
    }

    /// The per-key usage counters (see `super::usage`).
    pub fn usage(&self) -> &Arc<UsageCounters> {
        &self.usage
    }

    /// Writes queued `last_use_time`s every [`USE_FLUSH_EVERY`], batched,
    /// and (on a timer of their own) the usage counts.
    pub fn spawn_usage_writer(self: &Arc<Self>) {
        self.usage.spawn_flusher(self.store.clone());
        let index = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(USE_FLUSH_EVERY);
            loop {
                tick.tick().await;
                let Some(index) = index.upgrade() else { return };
                let batch = std::mem::take(&mut *index.pending_use.lock().expect("pending lock"));
                if !batch.is_empty()
                    && let Err(e) = index.store.record_use(&batch).await
                {
                    // Best effort: usage times are informational.
                    tracing::debug!(error = %e, "could not record last use times");
                }
            }
        });
    }

    /// The current generation (see the field's doc).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A new generation. Called *after* a change is in place, so a
    /// decision made from the old state carries the old generation.
    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A room's stored accesses, from memory or the database; `None` when
    /// the room does not exist. Generation-checked like credentials: an
    /// eviction during the read keeps the (possibly old) answer out of the
    /// cache.
    pub async fn room_acl(
        &self,
        scope: &EnvironmentScope,
        room_id: &str,
    ) -> Result<Option<Arc<RoomAcl>>> {
        let store = self.store.environment(scope);
        if !self.trusted() {
            return Ok(store.room_acl(room_id).await?.map(Arc::new));
        }
        let key = user_key(scope.environment_id().as_str(), room_id);
        let generation = self.generation();
        let loaded = self
            .room_acls
            .get_or_try_insert_with(key.as_str(), async {
                match store.room_acl(room_id).await {
                    Ok(Some(acl)) if self.generation() == generation => Ok(Arc::new(acl)),
                    Ok(Some(acl)) => Err(Load::Stale(Arc::new(acl))),
                    Ok(None) => Err(Load::Absent),
                    Err(e) => Err(Load::Failed(e)),
                }
            })
            .await;
        match loaded {
            Ok(acl) | Err(Load::Stale(acl)) => Ok(Some(acl)),
            Err(Load::Absent) => Ok(None),
            Err(Load::Failed(e)) => Err(e),
        }
    }

    /// Forgets rooms' stored accesses (changed or deleted). Call after the
    /// transaction committed.
    pub fn evict_rooms(&self, rooms: &[RoomChange]) {
        for room in rooms {
            self.room_acls
                .remove(user_key(&room.environment_id, &room.room_id).as_str());
        }
        self.bump();
    }

    /// Ends every remembered decision (`crate::auth::decisions`) made
    /// before now: a signing key was revoked, and decisions about its
    /// tokens must be made again.
    pub fn invalidate_decisions(&self) {
        self.bump();
    }

    /// Whether cached entries are used.
    pub fn trusted(&self) -> bool {
        self.trusted.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Trusts or distrusts the cache (the cluster's listener health).
    pub fn set_trusted(&self, trusted: bool) {
        self.trusted
            .store(trusted, std::sync::atomic::Ordering::Release);
        self.bump();
    }

    /// Drops every cached lookup (not the dead set, which is never wrong).
    pub async fn flush(&self) {
        self.entries.clear();
        self.absent.clear();
        self.by_id.clear();
        self.not_before.clear();
        self.room_acls.clear();
        self.bump();
    }

    /// Whether the credential id was killed.
    pub fn is_dead(&self, id: &str) -> bool {
        self.dead.contains_key(id)
    }

    /// Marks credentials as no longer working. Call after the transaction
    /// that revoked them committed.
    pub async fn kill(&self, killed: &[DeadCredential]) {
        for credential in killed {
            self.dead.insert(credential.id.as_str().into(), ());
        }
        for credential in killed {
            self.by_id.remove(credential.id.as_str());
            self.entries.remove(&credential.hash);
        }
        self.bump();
    }
}

/// What a credential resolved to.
#[derive(Debug)]
pub enum Resolution {
    /// A working credential.
    Working(Arc<Resolved>),
    /// A known credential that no longer works, and why (revoked or expired).
    Ended(Arc<Resolved>, Outcome),
    /// No such credential.
    Unknown,
}

/// Why a cache load stored nothing.
enum Load<T> {
    /// Read, but a revocation took effect meanwhile: used once, not kept.
    Stale(T),
    /// No such credential.
    Absent,
    /// The database failed.
    Failed(Error),
}

/// The `not_before` cache's key of a user of an environment.
fn user_key(environment_id: &str, user_id: &str) -> String {
    let mut key = String::with_capacity(environment_id.len() + user_id.len() + 1);
    key.push_str(environment_id);
    key.push('\0');
    key.push_str(user_id);
    key
}

/// Whether a revocation time has come.
fn revoked(revoke_at: Option<i64>) -> bool {
    revoke_at.is_some_and(|t| t <= crate::domain::time::now_micros())
}
