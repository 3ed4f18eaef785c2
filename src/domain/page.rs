//! Pagination: page sizes and opaque keyset page tokens (AIP-158).
//!
//! A token carries the internal sequence number of the last row returned,
//! plus a fingerprint of the list it belongs to (collection and parent), so
//! a token from one list is rejected by another. It grants nothing: every
//! query is scoped to the caller's tenant regardless of the token.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::domain::ids::random_bytes;
use crate::error::Error;

/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Larger page sizes are coerced to this.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Associated-data prefix: a token format change gets a new one.
const TOKEN_CONTEXT: &str = "pulse.page.v2";
/// Sealed position: nonce, the 8-byte sequence number, tag.
const TOKEN_LEN: usize = NONCE_LEN + 8 + 16;

/// Seals and opens page tokens. A token is the position (an internal,
/// global row sequence number) encrypted and authenticated with
/// ChaCha20-Poly1305 under a key derived from the master key, with the
/// tenant, the list and its filters as associated data. So a token reveals
/// nothing (not even whether two tokens name the same position: the nonce
/// is fresh), cannot be edited, and opens only in the list and tenant it
/// was issued for. Replicas sharing the master key accept each other's.
pub struct PageSealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for PageSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageSealer([REDACTED])")
    }
}

impl PageSealer {
    /// A sealer under 32 bytes of key material.
    pub fn new(key: [u8; 32]) -> Arc<Self> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key).expect("32-byte key");
        Arc::new(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Validates `page_size` and `page_token` for the list named by `list`
    /// (e.g. `"rooms"` or `"audit/env_…/key.created"`: the collection and
    /// every filter) of `tenant` (an account or environment id).
    pub fn parse(
        self: &Arc<Self>,
        tenant: &str,
        list: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<PageRequest, Error> {
        let size = match page_size {
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            n => (n as u64).min(MAX_PAGE_SIZE),
        };
        let binding = format!("{TOKEN_CONTEXT}\0{tenant}\0{list}");
        let after = if page_token.is_empty() {
            0
        } else {
            self.open(&binding, page_token)
                .ok_or_else(|| Error::invalid("page_token", "is not a page token of this list"))?
        };
        Ok(PageRequest {
            size,
            after,
            binding,
            sealer: self.clone(),
        })
    }

    fn seal(&self, binding: &str, seq: i64) -> String {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut buf = seq.to_be_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(binding.as_bytes()),
                &mut buf,
            )
            .expect("sealing 8 bytes cannot fail");
        let mut token = nonce.to_vec();
        token.extend_from_slice(&buf);
        URL_SAFE_NO_PAD.encode(token)
    }

    fn open(&self, binding: &str, token: &str) -> Option<i64> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(binding.as_bytes()), &mut buf)
            .ok()?;
        let seq = i64::from_be_bytes(plain.try_into().ok()?);
        (seq > 0).then_some(seq)
    }
}

/// A validated page request: how many rows, and after which sequence number.
#[derive(Clone, Debug)]
pub struct PageRequest {
    /// Rows to return.
    pub size: u64,
    /// Return rows with a sequence number greater than this.
    pub after: i64,
    /// Tenant, list and filters: the token's associated data.
    binding: String,
    sealer: Arc<PageSealer>,
}

impl PageRequest {
    /// The token for the page after the one that ended at `last_seq`.
    pub fn next_token(&self, last_seq: i64) -> String {
        self.sealer.seal(&self.binding, last_seq)
    }

    /// Given `size + 1` fetched rows' sequence numbers, cuts the extra row
    /// and returns the next token (empty at the end).
    pub fn finish<T>(&self, rows: &mut Vec<T>, seq: impl Fn(&T) -> i64) -> String {
        if rows.len() as u64 > self.size {
            rows.truncate(self.size as usize);
            rows.last()
                .map(|r| self.next_token(seq(r)))
                .unwrap_or_default()
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Arc<PageSealer> {
        PageSealer::new([7; 32])
    }

    #[test]
    fn sizes() {
        let s = sealer();
        assert_eq!(s.parse("t", "l", 0, "").unwrap().size, 50);
        assert_eq!(s.parse("t", "l", 5000, "").unwrap().size, 1000);
        assert!(s.parse("t", "l", -1, "").is_err());
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_list_and_tenant() {
        let s = sealer();
        let p = s.parse("t", "a", 10, "").unwrap();
        let t = p.next_token(42);
        assert_eq!(s.parse("t", "a", 10, &t).unwrap().after, 42);
        assert!(s.parse("t", "b", 10, &t).is_err());
        assert!(s.parse("u", "a", 10, &t).is_err());
        assert!(PageSealer::new([8; 32]).parse("t", "a", 10, &t).is_err());
        assert!(s.parse("t", "a", 10, "garbage!").is_err());
        assert_ne!(p.next_token(42), t, "fresh nonce per token");
        // Any edit is refused.
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        for i in 0..raw.len() {
            let mut edited = raw.clone();
            edited[i] ^= 1;
            assert!(
                s.parse("t", "a", 10, &URL_SAFE_NO_PAD.encode(edited))
                    .is_err()
            );
        }
    }
}
