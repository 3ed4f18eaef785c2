//! Members' passwords: argon2id (RustCrypto `argon2`), OWASP parameters.
//!
//! Hashing costs tens of milliseconds of CPU by design, so it never runs on
//! the async runtime: every hash and verification goes to tokio's blocking
//! pool (`spawn_blocking`), where it cannot starve the key-checking hot
//! path. An unknown email is verified against a fixed dummy hash, so that
//! "no such member" and "wrong password" take the same time.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::ids::random_bytes;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};

/// Fewest characters of a new password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes of any password we hash (argon2 takes more; a request
/// should not make us hash a megabyte).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a password nobody has, verified when the email is unknown.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    hash_now(&Secret::new(crate::domain::ids::base62(
        &random_bytes::<16>(),
    )))
    .expect("hashing a random password")
});

/// INVALID_ARGUMENT unless `password` may be set as a new password.
pub fn check_new(field: &str, password: &Secret) -> Result<()> {
    let text = password.expose();
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

fn hash_now(password: &Secret) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| Error::Internal(format!("salt: {e}")))?;
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing: {e}")))
}

fn verify_now(password: &Secret, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    hasher()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// The argon2id PHC string of a new password, computed on the blocking pool.
pub async fn hash(password: Secret) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| Error::Internal(format!("password hashing task: {e}")))?
}

/// Whether `password` matches `stored` (`None`: an unknown member, checked
/// against the dummy hash so it costs the same), on the blocking pool.
/// Over-long input is never hashed (and never matches).
pub async fn verify(password: Secret, stored: Option<String>) -> bool {
    if password.expose().len() > MAX_PASSWORD_BYTES {
        return false;
    }
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY.clone());
        verify_now(&password, &stored) && known
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let pw = Secret::new("correct horse battery".into());
        let a = hash(pw.clone()).await.unwrap();
        let b = hash(pw.clone()).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify(pw.clone(), Some(a.clone())).await);
        assert!(!verify(Secret::new("wrong horse battery".into()), Some(a)).await);
        assert!(!verify(pw, None).await);
    }

    #[test]
    fn new_passwords_are_checked() {
        assert!(check_new("p", &Secret::new("short".into())).is_err());
        assert!(check_new("p", &Secret::new("x".repeat(1025))).is_err());
        assert!(check_new("p", &Secret::new("twelve chars".into())).is_ok());
        // Characters, not bytes: twelve accented letters pass.
        assert!(check_new("p", &Secret::new("é".repeat(12))).is_ok());
    }
}
