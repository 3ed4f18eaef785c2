//! Opaque resource ids: a type prefix and random base62 characters.
//!
//! Ids are random rather than sequential so that they reveal nothing about
//! how many resources exist (no enumeration) and can be made by any replica
//! without coordination.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::Error;

/// The base62 alphabet used by ids and credentials.
pub const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Resource kinds with their id prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// `acct_…`
    Account,
    /// `env_…`
    Environment,
    /// `key_…`
    ApiKey,
    /// `adm_…`
    AdminToken,
    /// `th_…`
    Thread,
    /// `cm_…`
    Comment,
    /// `sig_…` (user-token signing key)
    SigningKey,
    /// `evt_…` (audit event)
    AuditEvent,
    /// `mem_…` (member of an account)
    Member,
    /// `sid_…` (a member's session; the token is `ses_…`)
    Session,
}

impl IdKind {
    /// The id prefix, underscore included.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Account => "acct_",
            IdKind::Environment => "env_",
            IdKind::ApiKey => "key_",
            IdKind::AdminToken => "adm_",
            IdKind::Thread => "th_",
            IdKind::Comment => "cm_",
            IdKind::SigningKey => "sig_",
            IdKind::AuditEvent => "evt_",
            IdKind::Member => "mem_",
            IdKind::Session => "sid_",
        }
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom only fails if the OS has no entropy source at all, which
    // we cannot serve without.
    SystemRandom::new()
        .fill(&mut buf)
        .expect("operating system CSPRNG unavailable");
    buf
}

/// Encodes bytes in base62.
pub fn base62(bytes: &[u8]) -> String {
    base_x::encode(BASE62, bytes)
}

/// A new random id of `kind` (96 random bits).
pub fn new_id(kind: IdKind) -> String {
    format!("{}{}", kind.prefix(), base62(&random_bytes::<12>()))
}

/// A new request id (`req_…`), for requests that came without `x-request-id`:
/// a random 64-bit value drawn once per process, then a per-process counter
/// through a bijective mix (splitmix64's finaliser). Unique across replicas
/// and restarts (the prefix), never repeated within a process (the
/// counter), and made without a system call on every admin request. A
/// request id is a correlation handle, not a secret.
pub fn new_request_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: LazyLock<u64> = LazyLock::new(|| u64::from_le_bytes(random_bytes::<8>()));
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut z = COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("req_{:016x}{z:016x}", *PREFIX)
}

/// A client-chosen request id is kept if it is 1–128 characters of
/// `[A-Za-z0-9._:-]` (it is stored in the audit log and echoed, so it must
/// be harmless in any log viewer, shell or page); otherwise the caller gets
/// a generated one.
pub fn accept_request_id(value: &str) -> Option<String> {
    (!value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)))
    .then(|| value.to_owned())
}

/// Checks that `value` is shaped like an id of `kind`; `field` names the
/// request field for the error.
fn parse_id(kind: IdKind, field: &str, value: &str) -> Result<String, Error> {
    let body = value.strip_prefix(kind.prefix()).unwrap_or("");
    if body.is_empty() || body.len() > 40 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            field,
            format!("must be an id starting with {:?}", kind.prefix()),
        ));
    }
    Ok(value.to_owned())
}

/// Declares a typed id: a shared immutable string (cloning one, as every
/// request's caller context does, is a reference count, not a copy) built
/// only from a new random id, a checked request field, or a value read back
/// from our own database.
macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident => $kind:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// A new random id.
            pub fn generate() -> Self {
                Self(new_id($kind).into())
            }

            /// Checks a request field (`field` names it in the error).
            pub fn parse(field: &str, value: &str) -> Result<Self, Error> {
                parse_id($kind, field, value).map(|id| Self(id.into()))
            }

            /// An id read back from our own database, where only ids we
            /// generated are stored.
            pub fn from_stored(value: impl Into<std::sync::Arc<str>>) -> Self {
                Self(value.into())
            }

            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, owned.
            pub fn into_string(self) -> String {
                self.0.to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

typed_id! {
    /// An account, `acct_…`.
    AccountId => IdKind::Account;
    /// An environment, `env_…`.
    EnvironmentId => IdKind::Environment;
    /// An API key, `key_…`.
    KeyId => IdKind::ApiKey;
    /// An admin token, `adm_…`.
    AdminTokenId => IdKind::AdminToken;
    /// A thread, `th_…`.
    ThreadId => IdKind::Thread;
    /// A comment, `cm_…`.
    CommentId => IdKind::Comment;
    /// A user-token signing key, `sig_…`.
    SigningKeyId => IdKind::SigningKey;
    /// A member, `mem_…`.
    MemberId => IdKind::Member;
    /// A member's session, `sid_…`.
    SessionId => IdKind::Session;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_parse_and_differ() {
        let a = new_id(IdKind::Environment);
        let b = new_id(IdKind::Environment);
        assert_ne!(a, b);
        assert!(parse_id(IdKind::Environment, "id", &a).is_ok());
        assert_eq!(EnvironmentId::parse("id", &a).unwrap().as_str(), a);
        assert!(KeyId::parse("id", &a).is_err());
        assert!(parse_id(IdKind::ApiKey, "id", &a).is_err());
        assert!(parse_id(IdKind::Environment, "id", "env_").is_err());
        assert!(parse_id(IdKind::Environment, "id", "env_a-b").is_err());
    }
}
