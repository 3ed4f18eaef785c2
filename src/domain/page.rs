//! Pagination: page sizes and opaque keyset page tokens (AIP-158).
//!
//! A token carries the internal sequence number of the last row returned,
//! plus a fingerprint of the list it belongs to (collection and parent), so
//! a token from one list is rejected by another. It grants nothing: every
//! query is scoped to the caller's tenant regardless of the token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Error;

/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Larger page sizes are coerced to this.
pub const MAX_PAGE_SIZE: u64 = 1000;

const TOKEN_VERSION: u8 = 1;

/// A validated page request: how many rows, and after which sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return.
    pub size: u64,
    /// Return rows with a sequence number greater than this.
    pub after: i64,
    fingerprint: u32,
}

impl PageRequest {
    /// Validates `page_size` and `page_token` for the list named by `list`
    /// (e.g. `"environments"` or `"keys/env_…"`).
    pub fn parse(list: &str, page_size: i32, page_token: &str) -> Result<Self, Error> {
        let size = match page_size {
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            n => (n as u64).min(MAX_PAGE_SIZE),
        };
        let fingerprint = crc32fast::hash(list.as_bytes());
        let after = if page_token.is_empty() {
            0
        } else {
            decode(page_token, fingerprint)
                .ok_or_else(|| Error::invalid("page_token", "is not a page token of this list"))?
        };
        Ok(Self {
            size,
            after,
            fingerprint,
        })
    }

    /// The token for the page after the one that ended at `last_seq`.
    pub fn next_token(&self, last_seq: i64) -> String {
        let mut buf = Vec::with_capacity(13);
        buf.push(TOKEN_VERSION);
        buf.extend_from_slice(&last_seq.to_be_bytes());
        buf.extend_from_slice(&self.fingerprint.to_be_bytes());
        URL_SAFE_NO_PAD.encode(buf)
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

fn decode(token: &str, fingerprint: u32) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 13 || bytes[0] != TOKEN_VERSION {
        return None;
    }
    let seq = i64::from_be_bytes(bytes[1..9].try_into().ok()?);
    let fp = u32::from_be_bytes(bytes[9..13].try_into().ok()?);
    (fp == fingerprint && seq > 0).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(PageRequest::parse("l", 0, "").unwrap().size, 50);
        assert_eq!(PageRequest::parse("l", 5000, "").unwrap().size, 1000);
        assert!(PageRequest::parse("l", -1, "").is_err());
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_list() {
        let p = PageRequest::parse("a", 10, "").unwrap();
        let t = p.next_token(42);
        assert_eq!(PageRequest::parse("a", 10, &t).unwrap().after, 42);
        assert!(PageRequest::parse("b", 10, &t).is_err());
        assert!(PageRequest::parse("a", 10, "garbage!").is_err());
    }
}
