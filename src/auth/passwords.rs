//! Members' passwords: argon2id (RustCrypto `argon2`), OWASP parameters.
//!
//! Hashing costs tens of milliseconds of CPU by design, so it never runs on
//! the async runtime. Nor on tokio's blocking pool: fifty concurrent
//! sign-ins there are fifty threads competing with the runtime's workers
//! for the CPU as equals, and the key-checking hot path slowed to a tenth
//! (measured, `examples/team.rs`). Hashes run on a few threads of their own
//! ([`Hashers`]) at the lowest CPU priority (nice 19): when the machine is
//! busy serving keys they wait, and sign-ins take longer instead. Their
//! queue is bounded; beyond it a sign-in is RESOURCE_EXHAUSTED.
//!
//! An unknown email is verified against a fixed dummy hash, so that "no
//! such member" and "wrong password" take the same time.

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, LazyLock, Mutex};

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

/// Hashes waiting for a hasher thread, at most.
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

/// The password-hashing threads: one per core, at nice 19.
struct Hashers {
    jobs: SyncSender<Job>,
}

static HASHERS: LazyLock<Hashers> = LazyLock::new(|| {
    let (jobs, queue) = sync_channel::<Job>(QUEUE);
    let queue = Arc::new(Mutex::new(queue));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for i in 0..threads {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("pulse-hasher-{i}"))
            .spawn(move || {
                lowest_priority();
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start a password-hashing thread");
        }
    }
    Hashers { jobs }
});

/// Lowers the calling thread's CPU priority to nice 19 (Linux: a thread
/// is a task of its own; elsewhere this is a no-op).
#[allow(unsafe_code)] // the crate's one FFI call; see the SAFETY note
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; `who` 0 is
        // the calling thread on Linux.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        if rc != 0 {
            tracing::warn!("could not lower the password-hashing thread's priority");
        }
    }
}

/// Runs `work` on a hasher thread.
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
    });
    match HASHERS.jobs.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Err(Error::ResourceExhausted(
                "too many sign-ins in progress; retry later".into(),
            ));
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(Error::Internal("no password-hashing thread".into()));
        }
    }
    rx.await
        .map_err(|_| Error::Internal("a password-hashing thread ended".into()))
}

/// The argon2id PHC string of a new password, computed on a hasher thread.
pub async fn hash(password: Secret) -> Result<String> {
    on_hasher(move || hash_now(&password)).await?
}

/// Whether `password` matches `stored` (`None`: an unknown member, checked
/// against the dummy hash so it costs the same), on a hasher thread.
/// Over-long input is never hashed (and never matches). RESOURCE_EXHAUSTED
/// when the hashers' queue is full.
pub async fn verify(password: Secret, stored: Option<String>) -> Result<bool> {
    if password.expose().len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    on_hasher(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY.clone());
        verify_now(&password, &stored) && known
    })
    .await
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
        assert!(verify(pw.clone(), Some(a.clone())).await.unwrap());
        let wrong = Secret::new("wrong horse battery".into());
        assert!(!verify(wrong, Some(a)).await.unwrap());
        assert!(!verify(pw, None).await.unwrap());
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
