//! Credential format: `pk_`, `sk_`, `rk_`, `ak_` + base62 of 24 CSPRNG bytes + a
//! 6-character base62 CRC32 of everything before it.
//!
//! The checksum lets us reject typos, truncations and random probes without
//! touching the database, and lets secret scanners recognise our keys. The
//! stored form is SHA-256 of the whole credential; the plaintext exists only
//! in the response that creates it.

use ring::digest;
use sea_orm::entity::prelude::StringLen;
use sea_orm::{DeriveActiveEnum, EnumIter, Iterable};

use crate::domain::ids::{BASE62, base62, random_bytes};
use crate::domain::secret::Secret;

/// Kinds of credentials, by prefix: the one key-kind type. API keys are
/// the first three; `api_keys.kind` stores them by these names (the
/// derive is how the column holds this type; nothing else here knows the
/// database), and `api/convert.rs` maps them to and from the proto
/// `ApiKeyKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum CredentialKind {
    /// `pk_…`: identifies an environment; safe to expose.
    #[sea_orm(string_value = "publishable")]
    Publishable,
    /// `sk_…`: authenticates a customer backend in an environment.
    #[sea_orm(string_value = "secret")]
    Secret,
    /// `rk_…`: a secret key limited to its permissions.
    #[sea_orm(string_value = "restricted")]
    Restricted,
    /// `ak_…`: administers one account.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// `ses_…`: a member's signed-in session; administers its account with
    /// the member's role and scope.
    #[sea_orm(string_value = "session")]
    Session,
    /// `inv_…`: an invitation, good for one `AcceptInvite`; authenticates
    /// nothing else.
    #[sea_orm(string_value = "invite")]
    Invite,
}

impl CredentialKind {
    /// The prefix, underscore included.
    pub fn prefix(self) -> &'static str {
        match self {
            CredentialKind::Publishable => "pk_",
            CredentialKind::Secret => "sk_",
            CredentialKind::Restricted => "rk_",
            CredentialKind::Admin => "ak_",
            CredentialKind::Session => "ses_",
            CredentialKind::Invite => "inv_",
        }
    }

    fn from_prefix(value: &str) -> Option<Self> {
        Self::iter().find(|k| value.starts_with(k.prefix()))
    }
}

/// Length of the display prefix (`prefix` field in listings).
pub const DISPLAY_PREFIX_LEN: usize = 12;
const CHECKSUM_LEN: usize = 6;
const RANDOM_BYTES: usize = 24;
/// Shortest and longest base62 encodings of the random part we accept.
const BODY_MIN: usize = 30;
const BODY_MAX: usize = 40;

/// SHA-256 of a whole credential: what the database stores (as hex, in
/// exactly one place: the store's entities) and the key index is keyed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialHash([u8; 32]);

impl CredentialHash {
    /// Lowercase hex, as stored in the database.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses the stored hex form; `None` if it is not 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Self(out))
    }
}

/// A hash is not a secret, but it is what a leaked table would hold: keep
/// it short in logs.
impl std::fmt::Debug for CredentialHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialHash({}…)", &self.to_hex()[..8])
    }
}

/// A credential whose shape and checksum are valid. Its `Debug` redacts it.
#[derive(Clone, Debug)]
pub struct ParsedCredential {
    /// Which kind of credential.
    pub kind: CredentialKind,
    /// SHA-256 of the whole credential.
    pub hash: CredentialHash,
}

/// A freshly generated credential, with everything that is stored about it.
#[derive(Debug)]
pub struct NewCredential {
    /// Kind.
    pub kind: CredentialKind,
    /// The plaintext, shown once.
    pub plaintext: Secret,
    /// SHA-256 of the plaintext, stored.
    pub hash: CredentialHash,
    /// The first 12 characters, stored for display.
    pub display_prefix: String,
}

/// Generates a new credential of `kind` from the OS CSPRNG.
pub fn generate(kind: CredentialKind) -> NewCredential {
    let mut value = String::with_capacity(48);
    value.push_str(kind.prefix());
    value.push_str(&base62(&random_bytes::<RANDOM_BYTES>()));
    let checksum = checksum(&value);
    value.push_str(&checksum);
    NewCredential {
        kind,
        hash: hash(&value),
        display_prefix: value[..DISPLAY_PREFIX_LEN].to_owned(),
        plaintext: Secret::new(value),
    }
}

/// Checks shape and checksum; `None` for anything that is not a credential
/// we could have issued. Never touches the database.
pub fn parse(value: &str) -> Option<ParsedCredential> {
    let kind = CredentialKind::from_prefix(value)?;
    let rest = &value[kind.prefix().len()..];
    if rest.len() < BODY_MIN + CHECKSUM_LEN
        || rest.len() > BODY_MAX + CHECKSUM_LEN
        || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let (body, sum) = value.split_at(value.len() - CHECKSUM_LEN);
    if checksum(body).as_bytes() != sum.as_bytes() {
        return None;
    }
    Some(ParsedCredential {
        kind,
        hash: hash(value),
    })
}

/// SHA-256 of a credential.
pub fn hash(value: &str) -> CredentialHash {
    let digest = digest::digest(&digest::SHA256, value.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    CredentialHash(out)
}

/// CRC32 of `value` as exactly 6 base62 characters (62^6 > 2^32).
fn checksum(value: &str) -> String {
    let mut n = crc32fast::hash(value.as_bytes()) as u64;
    let alphabet = BASE62.as_bytes();
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_parse() {
        for kind in CredentialKind::iter() {
            for _ in 0..200 {
                let c = generate(kind);
                let parsed = parse(c.plaintext.expose()).expect("parses");
                assert_eq!(parsed.kind, kind);
                assert_eq!(parsed.hash, c.hash);
                assert!(c.plaintext.expose().starts_with(kind.prefix()));
                assert_eq!(c.display_prefix.len(), 12);
            }
        }
    }

    #[test]
    fn corrupted_credentials_are_rejected() {
        let c = generate(CredentialKind::Secret);
        let v = c.plaintext.expose();
        // Flip each character in turn: the checksum (or shape) must catch it.
        for i in 3..v.len() {
            let mut bytes = v.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let s = String::from_utf8(bytes).unwrap();
            assert!(parse(&s).is_none(), "accepted corruption at {i}");
        }
        assert!(parse(&v[..v.len() - 1]).is_none());
        assert!(parse(&format!("xk_{}", &v[3..])).is_none());
        assert!(parse("").is_none());
        assert!(parse("sk_").is_none());
        assert!(parse(&format!("{v}é")).is_none());
    }

    #[test]
    fn hex_round_trip() {
        let h = hash("x");
        assert_eq!(CredentialHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(CredentialHash::from_hex("zz"), None);
    }

    #[test]
    fn debug_never_shows_the_plaintext() {
        let c = generate(CredentialKind::Admin);
        assert!(!format!("{c:?}").contains(c.plaintext.expose()));
    }
}
