//! The master key, and sealing of signing keys at rest (AES-256-GCM, ring).
//!
//! A sealed blob is `nonce (12) ‖ ciphertext ‖ tag (16)`, with associated
//! data naming the row it belongs to, so a blob copied to another row does
//! not open.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::domain::ids::random_bytes;
use crate::error::{Error, Result};

/// The key that seals signing keys. `Debug` shows nothing of it.
pub struct MasterKey {
    key: LessSafeKey,
    /// HKDF pseudo-random key for deriving keys of other purposes.
    prk: ring::hkdf::Prk,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// A master key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow::anyhow!("the master key must be 32 bytes"))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            prk: ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"pulse master key").extract(bytes),
        })
    }

    /// 32 bytes of key material for `purpose` (HKDF-SHA256), so one secret
    /// to manage yields independent keys: e.g. page tokens are sealed under
    /// a key that cannot open signing keys.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let info = [purpose.as_bytes()];
        let mut out = [0u8; 32];
        self.prk
            .expand(&info, Len)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32 bytes is a valid HKDF-SHA256 length");
        out
    }

    /// A master key from its base64 text (standard or URL-safe alphabet).
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| anyhow::anyhow!("the master key must be base64 of 32 bytes"))?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random master key and its base64 text.
    pub fn generate() -> (Self, String) {
        let bytes = random_bytes::<32>();
        let text = STANDARD.encode(bytes);
        (Self::from_bytes(&bytes).expect("32 bytes"), text)
    }

    /// Reads a key file (base64 text).
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading master key file {}", path.display()))?;
        Self::from_base64(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Reads the key file at `path`, creating it (mode 0600) with a new key
    /// if it does not exist. Returns whether it was created.
    pub fn load_or_create(path: &Path) -> anyhow::Result<(Self, bool)> {
        if path.exists() {
            return Ok((Self::from_file(path)?, false));
        }
        let (key, text) = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
                Ok((key, true))
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::from_file(path)?, false))
            }
            Err(e) => {
                Err(e).with_context(|| format!("creating master key file {}", path.display()))
            }
        }
    }

    /// Seals `plaintext` for the row named by `aad`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad.as_bytes()),
                &mut out,
            )
            .expect("AES-GCM sealing of a small buffer cannot fail");
        let mut sealed = nonce_bytes.to_vec();
        sealed.extend_from_slice(&out);
        sealed
    }

    /// Opens a blob sealed for `aad`; fails if the key, blob or row differ.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(Error::internal("sealed blob too short"));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::internal("bad nonce"))?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| Error::internal("a signing key does not open with this master key"))?;
        Ok(plain.to_vec())
    }
}

/// Where the master key comes from, in order: `PULSE_MASTER_KEY`,
/// `--master-key-file`, or — for a SQLite file database only — a key file
/// generated beside the database (with a warning). PostgreSQL replicas must
/// share one key, so there it has to be given explicitly.
pub fn resolve(
    inline: Option<&str>,
    file: Option<&Path>,
    database_url: &crate::config::DatabaseUrl,
) -> anyhow::Result<MasterKey> {
    if let Some(text) = inline {
        return MasterKey::from_base64(text).context("PULSE_MASTER_KEY");
    }
    if let Some(path) = file {
        return MasterKey::from_file(path);
    }
    let Some(path) = sqlite_key_path(database_url) else {
        bail!(
            "a master key is required with this database: set PULSE_MASTER_KEY (base64 of 32 bytes) \
             or --master-key-file"
        );
    };
    let (key, created) = MasterKey::load_or_create(&path)?;
    if created {
        tracing::warn!(
            path = %path.display(),
            "generated a master key file beside the database; back it up, and set \
             PULSE_MASTER_KEY or --master-key-file in production"
        );
    }
    Ok(key)
}

/// `sqlite://dir/pulse.db?mode=rwc` → `dir/pulse.db.master.key`.
fn sqlite_key_path(url: &crate::config::DatabaseUrl) -> Option<PathBuf> {
    let file = url.sqlite_file()?;
    Some(PathBuf::from(format!("{}.master.key", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_bind_to_row_and_key() {
        let (key, text) = MasterKey::generate();
        let sealed = key.seal("sig_1|env_1", b"secret");
        assert_eq!(key.open("sig_1|env_1", &sealed).unwrap(), b"secret");
        assert!(key.open("sig_1|env_2", &sealed).is_err());
        let (other, _) = MasterKey::generate();
        assert!(other.open("sig_1|env_1", &sealed).is_err());
        assert!(MasterKey::from_base64(&text).is_ok());
        assert!(MasterKey::from_base64("short").is_err());
        assert!(!format!("{key:?}").contains(&text));
    }

    #[test]
    fn key_path_beside_sqlite_file() {
        let path = |url: &str| sqlite_key_path(&url.parse().unwrap());
        assert_eq!(
            path("sqlite://pulse.db?mode=rwc"),
            Some(PathBuf::from("pulse.db.master.key"))
        );
        assert_eq!(path("postgres://x/y"), None);
        assert_eq!(path("sqlite::memory:"), None);
    }
}
