//! The key index: credential hash → stored record, kept in memory so the
//! hot path almost never waits on the database.
//!
//! Two structures:
//! - `entries`: an async cache (moka) of found credentials. Concurrent
//!   misses for one hash share a single database query (`try_get_with`).
//! - `absent`: unknown-but-well-formed credentials, for [`NEGATIVE_TTL`],
//!   so probing costs at most one query per key per TTL. Kept apart so the
//!   big cache needs no per-entry expiry (a timer-wheel node per entry).
//! - `dead`: ids of credentials killed by this process (revoked, rotated
//!   away, deleted). A credential never comes back to life, so a dead id is
//!   final. It is checked on every hit, which closes the race where a lookup
//!   that read the row *before* the revoking transaction committed puts the
//!   stale "active" record back into `entries` *after* we evicted it.
//!   Entries live at most [`POSITIVE_TTL`] and dead ids [`DEAD_TTL`], longer
//!   than an entry plus any lookup, so no stale entry outlives its tombstone.
//!
//! Kill is called after the transaction commits and before the RPC returns:
//! once `RotateKeys`/`RevokeKey` return, this process rejects the old key.

use std::sync::Arc;
use std::time::Duration;

use super::credential::{CredentialHash, ParsedCredential};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::credentials::{self, CredentialRecord};

/// How long a found credential stays cached.
pub const POSITIVE_TTL: Duration = Duration::from_secs(300);
/// How long an unknown credential stays cached as absent.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// How long a killed id is remembered: longer than any entry can live.
pub const DEAD_TTL: Duration = Duration::from_secs(900);
/// Bound on cached lookups.
const MAX_ENTRIES: u64 = 1_000_000;

/// In-memory credential index over the store.
pub struct KeyIndex {
    /// The database, for misses.
    store: Store,
    /// hash → record (or known absence).
    entries: moka::future::Cache<CredentialHash, Arc<CredentialRecord>>,
    /// hashes known not to exist.
    absent: moka::sync::Cache<CredentialHash, ()>,
    /// Ids of credentials that no longer work.
    dead: moka::sync::Cache<String, ()>,
    /// key id → (environment, active), for the minting keys of user tokens.
    by_id: moka::future::Cache<String, Option<(String, bool)>>,
    /// Whether cached entries may be used. False while this replica cannot
    /// hear other replicas' revocations (see `cluster`): every lookup then
    /// goes to the database.
    trusted: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl KeyIndex {
    /// An empty index over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            entries: moka::future::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(POSITIVE_TTL)
                .build(),
            absent: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(NEGATIVE_TTL)
                .build(),
            dead: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(DEAD_TTL)
                .build(),
            trusted: std::sync::atomic::AtomicBool::new(true),
            by_id: moka::future::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(POSITIVE_TTL)
                .build(),
        }
    }

    /// Resolves a well-formed credential to its active record; `None` if it
    /// is unknown, revoked or killed.
    pub async fn resolve(&self, cred: &ParsedCredential) -> Result<Option<Arc<CredentialRecord>>> {
        let store = &self.store;
        if !self.trusted() {
            let record = credentials::lookup(store, cred).await?;
            return Ok(record
                .map(Arc::new)
                .filter(|r| !r.revoked && !self.is_dead(&r.id)));
        }
        if self.absent.contains_key(&cred.hash) {
            return Ok(None);
        }
        let entry = self
            .entries
            .try_get_with(cred.hash, async move {
                match credentials::lookup(store, cred).await {
                    Ok(Some(record)) => Ok(Arc::new(record)),
                    Ok(None) => Err(Error::NotFound("credential")),
                    Err(e) => Err(e),
                }
            })
            .await;
        match entry {
            Ok(record) => Ok(Some(record).filter(|r| !r.revoked && !self.is_dead(&r.id))),
            Err(e) if matches!(*e, Error::NotFound(_)) => {
                self.absent.insert(cred.hash, ());
                Ok(None)
            }
            Err(e) => Err(shared_error(e)),
        }
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
            return Ok(matches!(state, Some((env, true)) if env == environment_id));
        }
        let id = key_id.to_owned();
        let state = self
            .by_id
            .try_get_with(id.clone(), async move {
                credentials::key_state(store, &id).await
            })
            .await
            .map_err(shared_error)?;
        Ok(matches!(state, Some((env, true)) if env == environment_id) && !self.is_dead(key_id))
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
        self.entries.invalidate_all();
        self.absent.invalidate_all();
        self.by_id.invalidate_all();
    }

    /// The store behind the index.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the credential id was killed.
    pub fn is_dead(&self, id: &str) -> bool {
        self.dead.contains_key(id)
    }

    /// Marks credentials as no longer working. Call after the transaction
    /// that revoked them committed; `hashes` are hex SHA-256 as stored.
    pub async fn kill(&self, killed: Vec<(String, String)>) {
        for (id, hash_hex) in killed {
            self.by_id.invalidate(&id).await;
            self.dead.insert(id, ());
            if let Some(hash) = parse_hex(&hash_hex) {
                self.entries.invalidate(&hash).await;
            }
        }
    }
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
