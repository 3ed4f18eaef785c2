//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) for members'
//! second factor, through the `totp-rs` crate, with replay refusal: a
//! code is accepted only for a time step after the last one accepted, so
//! a code seen once (shoulder-surfed, phished, logged) never works again.

use totp_rs::{Algorithm, TOTP};

use crate::domain::ids::random_bytes;
use crate::domain::secret::Secret;

/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Steps either side of now that are accepted (clock drift).
const SKEW: u64 = 1;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
const SECRET_BYTES: usize = 20;
/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "Pulse";

/// A new random TOTP secret.
pub fn new_secret() -> Vec<u8> {
    random_bytes::<SECRET_BYTES>().to_vec()
}

fn totp(secret: &[u8], account: &str) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account.to_owned(),
    )
    .ok()
}

/// The secret in base32 (for typing) and the `otpauth://` URL (for a QR
/// code), labelled with the member's email. Secrets: shown once.
pub fn provisioning(secret: &[u8], email: &str) -> (Secret, Secret) {
    match totp(secret, email) {
        Some(t) => (Secret::new(t.get_secret_base32()), Secret::new(t.get_url())),
        None => (Secret::new(String::new()), Secret::new(String::new())),
    }
}

/// The time step a `code` is valid for at `now` (Unix seconds), if it is
/// valid within the allowed skew and later than `last_step`.
pub fn accept(secret: &[u8], code: &str, now: u64, last_step: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "member")?;
    let current = now / STEP_SECONDS;
    let mut found = None;
    // Every candidate is computed and compared in constant time, so the
    // time taken says nothing about which step matched.
    for step in current.saturating_sub(SKEW)..=current + SKEW {
        let expected = t.generate(step * STEP_SECONDS);
        if same(expected.as_bytes(), code.as_bytes()) {
            found = Some(step as i64);
        }
    }
    found.filter(|step| last_step.is_none_or(|last| *step > last))
}

/// Equal bytes, compared without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The code of `secret` at `now` (tests and tools).
pub fn code_at(secret: &[u8], now: u64) -> String {
    totp(secret, "member").map_or_else(String::new, |t| t.generate(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, truncated to 6 digits.
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code_at(secret, time), code, "t={time}");
        }
    }

    #[test]
    fn replay_and_skew() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at(&secret, now);
        let step = accept(&secret, &code, now, None).expect("valid now");
        assert_eq!(accept(&secret, &code, now, Some(step)), None, "replay");
        assert!(accept(&secret, &code, now + 30, None).is_some(), "skew");
        assert_eq!(accept(&secret, &code, now + 120, None), None, "too late");
        assert_eq!(accept(&secret, "12345", now, None), None);
        assert_eq!(accept(&secret, "abcdef", now, None), None);
        let (b32, url) = provisioning(&secret, "a@example.com");
        assert!(
            url.expose().starts_with("otpauth://totp/Pulse:"),
            "{}",
            url.expose()
        );
        assert_eq!(b32.expose().len(), 32);
    }
}
