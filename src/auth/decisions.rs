//! Recent authentication decisions (environment and admin callers), keyed by the
//! exact bytes of their credential headers.
//!
//! Why: a frontend request proves itself with a publishable key and a user
//! token of some 400 bytes. Resolving that from scratch — checksum and
//! SHA-256 of the key, SHA-256 of the token, the verified-token cache, the
//! minting key's state, the dead set — is a dozen hash lookups and several
//! allocations per request. A returning caller sends the same bytes, so one
//! lookup here (a fast hash of the headers and an exact comparison) replaces
//! all of it.
//!
//! Why it is safe: only successes are stored, each with the latest instant
//! it may be used (the key's end, the minting key's end, the token's
//! expiry) and the key index's generation when the decision began. Every
//! kill, eviction, flush, change of trust, user-token or signing-key
//! revocation bumps that generation after it took effect, so a revocation
//! invalidates every decision made before it at once, here and (through
//! the cluster's notifications) on every replica. While the index
//! distrusts its cache, decisions are neither used nor stored.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use quick_cache::Equivalent;

use super::context::Caller;
use super::index::Resolved;
use crate::cache::Cache;

/// Decisions kept whose headers are ordinary (under [`LARGE_HEADERS`]).
const CAPACITY: usize = 100_000;
/// Headers at least this long (user tokens with many room patterns, up to
/// 64 KiB) are kept in their own, smaller cache, so memory stays bounded
/// by bytes as well as by entries (≤ 4,096 × 64 KiB + compiled patterns).
const LARGE_HEADERS: usize = 4096;
/// Decisions kept with large headers.
const LARGE_CAPACITY: usize = 4096;
/// Longest a decision is kept, whatever its deadline.
const TTL: Duration = Duration::from_secs(300);

/// The credential headers, as received: `authorization` and
/// `x-pulse-publishable-key` (`None`: absent, which is not the same as
/// present and empty).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Headers(Option<Box<[u8]>>, Option<Box<[u8]>>);

/// The same, borrowed from the request, for lookups without copying.
pub(super) struct Borrowed<'a>(pub Option<&'a [u8]>, pub Option<&'a [u8]>);

impl Hash for Borrowed<'_> {
    // Must hash exactly as `Headers`: a derived tuple struct of two
    // `Option`s of byte slices (`Box<[u8]>` hashes as `[u8]`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

impl Equivalent<Headers> for Borrowed<'_> {
    fn equivalent(&self, key: &Headers) -> bool {
        self.0 == key.0.as_deref() && self.1 == key.1.as_deref()
    }
}

/// A successful authentication.
#[derive(Debug)]
pub(super) struct Decision {
    /// Who is calling.
    pub caller: Caller,
    /// The key that authenticated (for its `last_use_time`).
    pub key: Arc<Resolved>,
    /// Last instant (µs) the decision holds; `None`: no end but revocation.
    pub until: Option<i64>,
    /// The key index's generation when the decision began.
    pub generation: u64,
}

/// Recent decisions.
pub(super) struct Decisions {
    cache: Cache<Headers, Arc<Decision>>,
    large: Cache<Headers, Arc<Decision>>,
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions")
            .field("len", &self.cache.len())
            .field("large", &self.large.len())
            .finish()
    }
}

impl Decisions {
    pub(super) fn new() -> Self {
        Self {
            cache: Cache::with_ttl(CAPACITY, TTL),
            large: Cache::with_ttl(LARGE_CAPACITY, TTL),
        }
    }

    fn cache_for(&self, headers: &Borrowed<'_>) -> &Cache<Headers, Arc<Decision>> {
        let len = headers.0.map_or(0, <[u8]>::len) + headers.1.map_or(0, <[u8]>::len);
        if len >= LARGE_HEADERS {
            &self.large
        } else {
            &self.cache
        }
    }

    /// The decision for these headers, if it still holds at `now` (µs) in
    /// `generation`.
    pub(super) fn get(
        &self,
        headers: &Borrowed<'_>,
        generation: u64,
        now: i64,
    ) -> Option<Arc<Decision>> {
        let decision = self.cache_for(headers).get(headers)?;
        (decision.generation == generation && decision.until.is_none_or(|t| t > now))
            .then_some(decision)
    }

    /// Remembers a successful decision for these headers.
    pub(super) fn insert(&self, headers: &Borrowed<'_>, decision: Decision) {
        let key = Headers(headers.0.map(Into::into), headers.1.map(Into::into));
        self.cache_for(headers).insert(key, Arc::new(decision));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn borrowed_headers_hash_like_owned_ones() {
        let build = std::collections::hash_map::RandomState::new();
        let owned = Headers(
            Some(b"Bearer x".as_slice().into()),
            Some(b"pk_y".as_slice().into()),
        );
        let borrowed = Borrowed(Some(b"Bearer x"), Some(b"pk_y"));
        assert_eq!(build.hash_one(&owned), build.hash_one(&borrowed));
        assert!(borrowed.equivalent(&owned));
        // The split between the two headers matters.
        let moved = Borrowed(Some(b"Bearer xp"), Some(b"k_y"));
        assert!(!moved.equivalent(&owned));
        assert_ne!(build.hash_one(&owned), build.hash_one(moved));
        // An absent header is not an empty one.
        let alone = Headers(Some(b"Bearer x".as_slice().into()), None);
        let empty = Borrowed(Some(b"Bearer x"), Some(b""));
        assert!(!empty.equivalent(&alone));
        let absent = Borrowed(Some(b"Bearer x"), None);
        assert!(absent.equivalent(&alone));
        assert_eq!(build.hash_one(&alone), build.hash_one(absent));
    }
}
