//! User tokens: compact JWS (RFC 7515) signed with Ed25519 (`alg: EdDSA`),
//! one signing key per environment, so any standard JWT library verifies
//! them with the key `ListSigningKeys` publishes.
//!
//! Signing and verification use ring directly (the JWT crates bring other
//! crypto stacks); the format is five lines of base64url and JSON.
//! Verification is strict: exactly `alg: EdDSA`, the environment's own
//! `kid`, a valid signature, `env` equal to the publishable key's
//! environment, not expired, and a minting secret key that is still active
//! (checked by the caller through the key index).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::sealing::MasterKey;
use crate::cache::Cache;
use crate::domain::credential::CredentialHash;
use crate::domain::ids::{EnvironmentId, SigningKeyId};
use crate::domain::names::parse_resource_id;
use crate::domain::rooms::{RoomClaim, RoomPolicy, check_patterns};
use crate::domain::scope::EnvironmentScope;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::entity::signing_key;
use crate::store::signing_keys::NewSigningKey;

/// Issuer claim of every token.
pub const ISSUER: &str = "pulse";
/// Longest token we mint or look at: a token with 1,000 room patterns of
/// ordinary length is ~25 KiB; the server's metadata limit admits this.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
/// Verified tokens kept in memory (~300 bytes each without room patterns).
const VERIFIED_CAPACITY: usize = 500_000;
/// Tokens at least this long (many room patterns) are kept apart, in a
/// cache of [`LARGE_VERIFIED_CAPACITY`], so memory is bounded in bytes too.
const LARGE_TOKEN: usize = 4096;
/// Verified large tokens kept (≤ 4,096 × (64 KiB + compiled patterns)).
const LARGE_VERIFIED_CAPACITY: usize = 4096;
/// Clock skew tolerated on `iat`.
const IAT_SKEW_SECS: i64 = 60;

/// The JOSE header.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// The claims of a user token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer, `pulse`.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The environment id.
    pub env: String,
    /// The id of the secret key that minted the token; the token dies with it.
    pub key_id: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Issued at, µs since the epoch: what a user-token revocation (whose
    /// line is drawn to the µs) is compared with. Absent in tokens minted
    /// before it existed (then `iat`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iat_us: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// Room permissions, pattern → `read`|`write`; absent: every room.
    #[serde(default, skip_serializing_if = "RoomClaim::is_empty")]
    pub rooms: RoomClaim,
}

impl Claims {
    /// When the token was issued, µs.
    pub fn issued_micros(&self) -> i64 {
        if self.iat_us > 0 {
            self.iat_us
        } else {
            self.iat.saturating_mul(1_000_000)
        }
    }
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// A verified token: its claims, and its room permissions compiled once.
#[derive(Debug)]
pub struct Verified {
    /// The claims.
    pub claims: Claims,
    /// `None`: every room.
    pub rooms: Option<Arc<RoomPolicy>>,
}

/// What a new token says besides its signer's environment.
#[derive(Debug)]
pub struct Mint<'a> {
    /// The minting key's id (the token dies with it).
    pub key_id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// Issued at, µs.
    pub issued: i64,
    /// Lifetime, seconds.
    pub ttl: i64,
    /// Room permissions (empty: every room).
    pub rooms: RoomClaim,
}

/// An environment's signing key, opened.
pub struct Signer {
    /// The key's id, the tokens' `kid`.
    pub kid: String,
    /// The environment.
    pub environment_id: String,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// Creation time, µs.
    pub create_time: i64,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Mints and verifies user tokens; keeps opened signing keys in memory.
#[derive(Debug)]
pub struct TokenService {
    store: Store,
    master: MasterKey,
    signers: Cache<String, Arc<Signer>>,
    /// SHA-256 of a token already verified → its claims, until it expires.
    /// Saves the Ed25519 verification (tens of µs) on every request of a
    /// frontend session. Revocation stays immediate: the minting key's
    /// state is checked on every request by the caller, cached or not.
    verified: Cache<CredentialHash, Arc<Verified>>,
    /// The same for tokens of [`LARGE_TOKEN`] bytes or more.
    verified_large: Cache<CredentialHash, Arc<Verified>>,
}

fn aad(kid: &str, environment_id: &str) -> String {
    format!("{kid}|{environment_id}")
}

impl TokenService {
    /// A service sealing under `master`.
    pub fn new(store: Store, master: MasterKey) -> Self {
        Self {
            store,
            master,
            signers: Cache::new(100_000),
            verified: Cache::new(VERIFIED_CAPACITY),
            verified_large: Cache::new(LARGE_VERIFIED_CAPACITY),
        }
    }

    /// Generates and seals a new signing key for an environment.
    pub fn new_signing_key(&self, environment_id: &EnvironmentId) -> NewSigningKey {
        let id = SigningKeyId::generate();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .expect("Ed25519 key generation from the OS CSPRNG");
        let pair =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("freshly generated key parses");
        NewSigningKey {
            public_key: pair.public_key().as_ref().to_vec(),
            sealed_private_key: self
                .master
                .seal(&aad(id.as_str(), environment_id.as_str()), pkcs8.as_ref()),
            id,
        }
    }

    /// The environment's signer, from memory, the database, or created now
    /// (environments made before signing keys existed).
    pub async fn signer(&self, scope: &EnvironmentScope) -> Result<Arc<Signer>> {
        let env = scope.environment_id();
        self.signers
            .get_or_try_insert_with(env.as_str(), async move {
                let store = self.store.environment(scope);
                let row = match store.signing_key().await? {
                    Some(row) => row,
                    None => store.insert_signing_key(self.new_signing_key(env)).await?,
                };
                self.open(row).map(Arc::new)
            })
            .await
            // Anything but an outage is ours: INTERNAL, the detail logged.
            .map_err(|e| match e {
                Error::Unavailable(detail) => Error::Unavailable(detail),
                other => Error::internal(other),
            })
    }

    fn open(&self, row: signing_key::Model) -> Result<Signer> {
        let pkcs8 = self
            .master
            .open(&aad(&row.id, &row.environment_id), &row.sealed_private_key)?;
        let pair =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| Error::internal("bad signing key"))?;
        Ok(Signer {
            kid: row.id,
            environment_id: row.environment_id,
            public_key: row.public_key,
            create_time: row.create_time,
            pair,
        })
    }

    /// Forgets an environment's signer (environment deleted).
    pub async fn forget(&self, environment_id: &EnvironmentId) {
        self.signers.remove(environment_id.as_str());
    }

    /// Mints a token in the signer's environment. INVALID_ARGUMENT if it
    /// would be longer than [`MAX_TOKEN_LEN`] (too many or too long room
    /// patterns): the server never mints a token it would not accept.
    pub fn mint(&self, signer: &Signer, mint: Mint<'_>) -> Result<Secret> {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: signer.kid.clone(),
        };
        let claims = Claims {
            iss: ISSUER.into(),
            sub: mint.user_id.into(),
            env: signer.environment_id.clone(),
            key_id: mint.key_id.into(),
            iat: mint.issued.div_euclid(1_000_000),
            iat_us: mint.issued,
            exp: mint.issued.div_euclid(1_000_000) + mint.ttl,
            jti: crate::domain::ids::base62(&crate::domain::ids::random_bytes::<12>()),
            rooms: mint.rooms,
        };
        let mut token = String::with_capacity(512);
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default()));
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default()));
        let signature = signer.pair.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::invalid(
                "room_permissions",
                format!(
                    "the token would be {} bytes, more than the {MAX_TOKEN_LEN} a \
                     request may carry; use fewer or shorter patterns (prefixes)",
                    token.len()
                ),
            ));
        }
        Ok(Secret::new(token))
    }

    /// Verifies a token presented with a publishable key of the scope's
    /// environment. Any failure is UNAUTHENTICATED. The caller still
    /// checks that `claims.key_id` is active.
    pub async fn verify(
        &self,
        scope: &EnvironmentScope,
        token: &str,
        now: i64,
    ) -> Result<Arc<Verified>> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::Unauthenticated);
        }
        let environment_id = scope.environment_id().as_str();
        let digest = crate::domain::credential::hash(token);
        let cache = if token.len() >= LARGE_TOKEN {
            &self.verified_large
        } else {
            &self.verified
        };
        if let Some(verified) = cache.get(&digest) {
            // Same bytes, same signature: only the time and the
            // environment can make it invalid now.
            if verified.claims.env == environment_id && verified.claims.exp > now {
                return Ok(verified);
            }
            return Err(Error::Unauthenticated);
        }
        let claims = self.verify_signed(scope, token, now).await?;
        let rooms = RoomPolicy::compile(&claims.rooms).map(Arc::new);
        let verified = Arc::new(Verified { claims, rooms });
        // Kept until the token expires: a hit still checks `exp`.
        let left =
            std::time::Duration::from_secs(verified.claims.exp.saturating_sub(now).max(1) as u64);
        cache.insert_for(digest, verified.clone(), left);
        Ok(verified)
    }

    async fn verify_signed(
        &self,
        scope: &EnvironmentScope,
        token: &str,
        now: i64,
    ) -> Result<Claims> {
        // Garbage is turned away before the signer is even looked up.
        split(token).ok_or(Error::Unauthenticated)?;
        let signer = self.signer(scope).await?;
        let env = scope.environment_id().as_str();
        verify_with_key(&signer.kid, &signer.public_key, env, token, now)
    }
}

/// Verifies a token against one environment's signing key: the whole check
/// (shape, `alg`, `kid`, signature, claims), without I/O, so it can be
/// fuzzed on its own. Any failure is UNAUTHENTICATED.
pub fn verify_with_key(
    kid: &str,
    public_key: &[u8],
    environment_id: &str,
    token: &str,
    now: i64,
) -> Result<Claims> {
    let (header, signing_input, signature) = split(token).ok_or(Error::Unauthenticated)?;
    if header.alg != "EdDSA" || header.kid != kid {
        return Err(Error::Unauthenticated);
    }
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| Error::Unauthenticated)?;
    let claims_b64 = signing_input
        .split('.')
        .nth(1)
        .ok_or(Error::Unauthenticated)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Error::Unauthenticated)?;
    let valid = claims.iss == ISSUER
        && claims.env == environment_id
        && claims.exp > now
        && claims.iat <= now + IAT_SKEW_SECS
        && (claims.iat_us == 0 || claims.iat_us.div_euclid(1_000_000) == claims.iat)
        && parse_resource_id("sub", &claims.sub).is_ok()
        && check_patterns("rooms", &claims.rooms).is_ok();
    if !valid {
        return Err(Error::Unauthenticated);
    }
    Ok(claims)
}

/// Splits a compact JWS into its parsed header, signing input and signature.
fn split(token: &str) -> Option<(Header, &str, Vec<u8>)> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let (signing_input, signature_b64) = token.rsplit_once('.')?;
    let (header_b64, claims_b64) = signing_input.split_once('.')?;
    if claims_b64.contains('.') || header_b64.is_empty() || claims_b64.is_empty() {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).ok()?).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).ok()?;
    (signature.len() == 64).then_some((header, signing_input, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rejects_malformed_tokens() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "..",
            "e30.e30.",
            &"a".repeat(5000),
        ] {
            assert!(split(bad).is_none(), "{bad:?}");
        }
    }
}
