//! The one cache type of the server: a bounded `quick_cache` whose entries
//! may carry a deadline.
//!
//! Why quick_cache (see `docs/design.md`, "Caches"): a hit does no
//! bookkeeping (no read buffer, no housekeeping run by whichever caller
//! fills it), so the hot path — several lookups per request — stays
//! around a hundred nanoseconds and its tail stays flat at a million keys;
//! concurrent misses for one key share one load
//! ([`Cache::get_or_try_insert_with`]). It has no notion of time, so the
//! deadline lives here, once: stored with the value in four bytes (whole
//! seconds since the process started) and checked on every read; an
//! expired entry reads as absent and is removed. Capacity bounds memory
//! whatever the TTLs.

use std::future::Future;
use std::hash::Hash;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use quick_cache::Equivalent;

/// Whole seconds since the first call, plus one (0 means "no deadline").
fn now() -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let secs = EPOCH.get_or_init(Instant::now).elapsed().as_secs();
    u32::try_from(secs).unwrap_or(u32::MAX - 1) + 1
}

/// A value and the second it expires in (0: never).
#[derive(Clone)]
struct Entry<V> {
    value: V,
    until: u32,
}

impl<V> Entry<V> {
    fn expired(&self, now: u32) -> bool {
        self.until != 0 && self.until <= now
    }
}

/// A bounded concurrent cache with an optional time to live.
pub struct Cache<K, V> {
    inner: quick_cache::sync::Cache<K, Entry<V>>,
    ttl: Option<u32>,
}

impl<K: Eq + Hash + Clone, V: Clone> std::fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.inner.len())
            .field("ttl_secs", &self.ttl)
            .finish()
    }
}

/// Whole seconds of `d`, at least one.
fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX / 2)
}

impl<K, V> Cache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// At most `capacity` entries, kept until evicted.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: quick_cache::sync::Cache::new(capacity),
            ttl: None,
        }
    }

    /// At most `capacity` entries, each for `ttl` (whole seconds) after it
    /// was inserted.
    pub fn with_ttl(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: quick_cache::sync::Cache::new(capacity),
            ttl: Some(secs(ttl)),
        }
    }

    fn deadline(&self) -> u32 {
        self.ttl.map_or(0, |ttl| now().saturating_add(ttl))
    }

    /// The live value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let entry = self.inner.get(key)?;
        let now = now();
        if entry.expired(now) {
            self.inner.remove_if(key, |e| e.expired(now));
            return None;
        }
        Some(entry.value)
    }

    /// Whether `key` has a live value.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Sets `key`, for the cache's time to live.
    pub fn insert(&self, key: K, value: V) {
        let until = self.deadline();
        self.inner.insert(key, Entry { value, until });
    }

    /// Sets `key` for `ttl` (at least a second), whatever the cache's TTL.
    pub fn insert_for(&self, key: K, value: V, ttl: Duration) {
        let until = now().saturating_add(secs(ttl));
        self.inner.insert(key, Entry { value, until });
    }

    /// Drops `key`.
    pub fn remove<Q>(&self, key: &Q)
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.inner.remove(key);
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// Entries held (live or not yet noticed as expired).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The live value of `key`, or the one `load` produces (stored; an
    /// error is returned and not stored). Concurrent callers missing the
    /// same key wait for one load.
    pub async fn get_or_try_insert_with<Q, E>(
        &self,
        key: &Q,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let until = self.deadline();
        let entry = self
            .inner
            .get_or_insert_async(key, async {
                Ok(Entry {
                    value: load.await?,
                    until,
                })
            })
            .await?;
        Ok(entry.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_read_as_absent() {
        let cache: Cache<&str, u32> = Cache::with_ttl(10, Duration::from_secs(1));
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), Some(1));
        // Pretend a second passed: an entry whose deadline is now is gone.
        cache.inner.insert(
            "b",
            Entry {
                value: 2,
                until: now(),
            },
        );
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.len(), 1, "the expired entry was removed");
        let forever: Cache<&str, u32> = Cache::new(10);
        forever.insert("c", 3);
        assert_eq!(forever.inner.get("c").map(|e| e.until), Some(0));
    }

    #[tokio::test]
    async fn one_load_per_miss_and_errors_are_not_stored() {
        let cache: Cache<String, u32> = Cache::new(10);
        let loaded = cache
            .get_or_try_insert_with("k", async { Ok::<_, ()>(7) })
            .await;
        assert_eq!(loaded, Ok(7));
        let again = cache
            .get_or_try_insert_with("k", async { Ok::<_, ()>(8) })
            .await;
        assert_eq!(again, Ok(7), "a hit does not load");
        let failed = cache
            .get_or_try_insert_with("e", async { Err::<u32, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        assert!(!cache.contains_key("e"));
    }
}
