//! User tokens: compact JWS (RFC 7515) signed with Ed25519 (`alg: EdDSA`)
//! by the environment's ACTIVE signing key, so any standard JWT library
//! verifies them with the keys `ListSigningKeys` and the JWKS publish.
//!
//! An environment has several keys (see `crate::domain::signing`): tokens
//! are signed by the ACTIVE one and verified by the key their `kid` names
//! if it is STANDBY, ACTIVE or RETIRING. The set is cached per environment
//! and re-read when a token names a `kid` it lacks (at most every
//! [`RELOAD_EVERY`]) and twice per standby period, so a rotation made on
//! another replica is known before its key signs. Revocations arrive
//! through the revocation value (`crate::store::revocation`) and are kept
//! in a set of revoked `kid`s that every verification checks.
//!
//! Signing and verification use ring directly (the JWT crates bring other
//! crypto stacks); the format is five lines of base64url and JSON.
//! Verification is strict: exactly `alg: EdDSA`, a working key's
//! `kid`, a valid signature, `env` equal to the publishable key's
//! environment, not expired, and a minting secret key that is still active
//! (checked by the caller through the key index).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
use crate::domain::records::SigningKey;
use crate::domain::rooms::{
    MAX_GROUPS, RoomClaim, RoomPolicy, STORED_CLAIM, UserRooms, check_patterns, check_subject_ids,
};
use crate::domain::scope::EnvironmentScope;
use crate::domain::secret::Secret;
use crate::domain::signing::{self, KeyState, KeyTimes};
use crate::domain::time::now_micros;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::revocation::RevokedSigningKey;
use crate::store::signing_keys::{self, NewSigningKey};

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
    /// `"stored"`: the rooms' stored accesses decide (STORED mode); absent:
    /// the `rooms` claim does (TOKEN mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_access: Option<String>,
    /// The user's groups, whose stored room entries count (STORED mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
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
    /// How its room access is decided.
    pub rooms: UserRooms,
    /// The signing key (`kid`): a cached verification dies with it.
    pub kid: String,
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
    /// `Some(groups)`: STORED mode with these groups.
    pub stored: Option<Vec<String>>,
}

/// One of an environment's signing keys, opened.
pub struct Signer {
    /// The key's id, the tokens' `kid`.
    pub kid: String,
    /// The environment.
    pub environment_id: String,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// Creation time, µs.
    pub create_time: i64,
    /// What decides its state (STANDBY, ACTIVE, RETIRING).
    pub times: KeyTimes,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// An environment's working keys (not revoked, not gone when loaded), as
/// read from the database. Their states follow from their times and the
/// clock, so a cached set switches to a rotated-in key at its
/// `activate_time` by itself.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<Arc<Signer>>,
    times: Vec<KeyTimes>,
    loaded: Instant,
}

impl KeySet {
    /// The key that signs at `now` (µs).
    fn active(&self, now: i64) -> Option<&Arc<Signer>> {
        signing::active(&self.times, now).map(|i| &self.keys[i])
    }

    /// The keys that verify at `now` (µs): STANDBY, ACTIVE, RETIRING.
    pub fn verifying(&self, now: i64) -> impl Iterator<Item = (&Arc<Signer>, KeyState)> {
        self.keys
            .iter()
            .zip(signing::states(&self.times, now))
            .filter(|(_, state)| state.verifies())
    }
}

/// How often a token naming a `kid` the cached set does not have may
/// reload the environment's keys (a rotation made on another replica).
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Mints and verifies user tokens; keeps opened signing keys in memory.
#[derive(Debug)]
pub struct TokenService {
    store: Store,
    master: MasterKey,
    /// How long a rotated-in key waits before it signs (the JWKS max-age).
    standby: Duration,
    /// Environment → its working keys. Kept for half the standby period:
    /// a key rotated in on another replica is known here before it signs.
    sets: Cache<String, Arc<KeySet>>,
    /// Revoked `kid`s: never wrong, checked on every verification (cached
    /// or not) and before signing, so a key set loaded before a revocation
    /// committed cannot bring the key back.
    revoked: Cache<String, ()>,
    /// SHA-256 of a token already verified → its claims, until it expires.
    /// Saves the Ed25519 verification (tens of µs) on every request of a
    /// frontend session. Revocation stays immediate: the minting key's
    /// state is checked on every request by the caller, cached or not, and
    /// the signing key against [`TokenService::revoked`] here.
    verified: Cache<CredentialHash, Arc<Verified>>,
    /// The same for tokens of [`LARGE_TOKEN`] bytes or more.
    verified_large: Cache<CredentialHash, Arc<Verified>>,
    /// Whether this replica hears revocations (`crate::cluster`): while
    /// it does not, verifications use no cache and read the keys from the
    /// database, as the key index does for credentials.
    trusted: AtomicBool,
}

fn aad(kid: &str, environment_id: &str) -> String {
    format!("{kid}|{environment_id}")
}

/// The default standby period (`--jwks-max-age`).
const DEFAULT_STANDBY: Duration = Duration::from_secs(300);

impl TokenService {
    /// A service sealing under `master`, with the default standby period.
    pub fn new(store: Store, master: MasterKey) -> Self {
        Self {
            store,
            master,
            standby: DEFAULT_STANDBY,
            sets: Cache::with_ttl(100_000, DEFAULT_STANDBY / 2),
            revoked: Cache::new(100_000),
            verified: Cache::new(VERIFIED_CAPACITY),
            verified_large: Cache::new(LARGE_VERIFIED_CAPACITY),
            trusted: AtomicBool::new(true),
        }
    }

    /// Trusts or distrusts the caches (the cluster's listener health).
    pub fn set_trusted(&self, trusted: bool) {
        self.trusted.store(trusted, Ordering::Release);
    }

    fn trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Sets the standby period of rotated-in keys (the JWKS max-age):
    /// key sets are re-read from the database twice per period.
    pub fn with_standby(mut self, standby: Duration) -> Self {
        self.sets = Cache::with_ttl(100_000, standby / 2);
        self.standby = standby;
        self
    }

    /// How long a rotated-in key waits before it signs.
    pub fn standby(&self) -> Duration {
        self.standby
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

    /// The environment's working keys, from memory or the database (which
    /// gives the environment a key that signs now if it has none).
    pub async fn key_set(&self, scope: &EnvironmentScope) -> Result<Arc<KeySet>> {
        let loaded = if self.trusted() {
            self.sets
                .get_or_try_insert_with(scope.environment_id().as_str(), self.load(scope))
                .await
        } else {
            self.load(scope).await
        };
        // Anything but an outage is ours: INTERNAL, the detail logged.
        loaded.map_err(|e| match e {
            Error::Unavailable(detail) => Error::Unavailable(detail),
            Error::NotFound(what) => Error::NotFound(what),
            other => Error::internal(other),
        })
    }

    /// Reads the environment's working keys from the database.
    async fn load(&self, scope: &EnvironmentScope) -> Result<Arc<KeySet>> {
        let env = scope.environment_id();
        let rows = self
            .store
            .environment(scope)
            .ensure_signing_key(|| self.new_signing_key(env))
            .await?;
        let states = signing_keys::states(&rows, now_micros());
        let mut keys = Vec::new();
        let mut times = Vec::new();
        for (row, state) in rows.into_iter().zip(states) {
            if state.verifies() {
                times.push(signing_keys::times(&row));
                keys.push(Arc::new(self.open(row)?));
            }
        }
        Ok(Arc::new(KeySet {
            keys,
            times,
            loaded: Instant::now(),
        }))
    }

    /// The key that signs the environment's tokens now.
    pub async fn signer(&self, scope: &EnvironmentScope) -> Result<Arc<Signer>> {
        for _ in 0..2 {
            let set = self.key_set(scope).await?;
            if let Some(signer) = set.active(now_micros())
                && !self.revoked.contains_key(signer.kid.as_str())
            {
                return Ok(signer.clone());
            }
            // Revoked (or no longer active) since the set was read.
            self.sets.remove(scope.environment_id().as_str());
        }
        Err(Error::internal("no active signing key after a reload"))
    }

    /// The public keys an environment publishes (its JWKS): STANDBY,
    /// ACTIVE and RETIRING keys. `None` if there is no such environment.
    pub async fn published(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Option<Vec<Arc<Signer>>>> {
        // Re-read at most every second, so a rotation made on another
        // replica is published everywhere at once.
        let fresh = self
            .sets
            .get(environment_id.as_str())
            .filter(|set| set.loaded.elapsed() < RELOAD_EVERY);
        let set = match fresh {
            Some(set) => set,
            None => {
                self.sets.remove(environment_id.as_str());
                let Some(account) = self.store.environment_account(environment_id).await? else {
                    return Ok(None);
                };
                let scope = EnvironmentScope::grant(account, environment_id.clone());
                match self.key_set(&scope).await {
                    Ok(set) => set,
                    // Deleted meanwhile.
                    Err(Error::NotFound(_)) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        };
        let now = now_micros();
        Ok(Some(
            set.verifying(now)
                .map(|(signer, _)| signer)
                .filter(|s| !self.revoked.contains_key(s.kid.as_str()))
                .cloned()
                .collect(),
        ))
    }

    fn open(&self, row: SigningKey) -> Result<Signer> {
        let pkcs8 = self
            .master
            .open(&aad(&row.id, &row.environment_id), &row.sealed_private_key)?;
        let pair =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| Error::internal("bad signing key"))?;
        Ok(Signer {
            times: signing_keys::times(&row),
            kid: row.id,
            environment_id: row.environment_id,
            public_key: row.public_key,
            create_time: row.create_time,
            pair,
        })
    }

    /// Forgets an environment's keys (environment deleted).
    pub async fn forget(&self, environment_id: &EnvironmentId) {
        self.sets.remove(environment_id.as_str());
    }

    /// Applies committed signing-key revocations (this process's, or
    /// another replica's announced ones): from now on no token of those
    /// keys verifies, cached or not, and their environments' keys are
    /// read again.
    pub fn revoke(&self, revoked: &[RevokedSigningKey]) {
        for key in revoked {
            self.revoked.insert(key.kid.clone(), ());
        }
        for key in revoked {
            self.sets.remove(key.environment_id.as_str());
        }
    }

    /// Drops every cached key set and verification (the cluster listener
    /// reconnected: announcements may have been missed). Revoked `kid`s
    /// stay: they are never wrong.
    pub fn flush(&self) {
        self.sets.clear();
        self.verified.clear();
        self.verified_large.clear();
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
            room_access: mint.stored.is_some().then(|| STORED_CLAIM.to_owned()),
            groups: mint.stored.unwrap_or_default(),
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
        let trusted = self.trusted();
        if let Some(verified) = cache.get(&digest).filter(|_| trusted) {
            // Same bytes, same signature: only the time, the environment
            // and a revocation of the signing key can make it invalid now.
            if verified.claims.env == environment_id
                && verified.claims.exp > now
                && !self.revoked.contains_key(verified.kid.as_str())
            {
                return Ok(verified);
            }
            return Err(Error::Unauthenticated);
        }
        let (claims, kid) = self.verify_signed(scope, token, now).await?;
        let rooms = match (
            claims.room_access.as_deref(),
            RoomPolicy::compile(&claims.rooms),
        ) {
            (Some(_), _) => {
                UserRooms::Stored(claims.groups.iter().map(|g| g.as_str().into()).collect())
            }
            (None, Some(policy)) => UserRooms::Patterns(Arc::new(policy)),
            (None, None) => UserRooms::Every,
        };
        let verified = Arc::new(Verified { claims, rooms, kid });
        // Kept until the token expires: a hit still checks `exp`.
        let left =
            std::time::Duration::from_secs(verified.claims.exp.saturating_sub(now).max(1) as u64);
        if trusted {
            cache.insert_for(digest, verified.clone(), left);
        }
        // Revoked while this verification ran: not used (nor kept for
        // long: every hit checks the revoked set).
        if self.revoked.contains_key(verified.kid.as_str()) {
            return Err(Error::Unauthenticated);
        }
        Ok(verified)
    }

    async fn verify_signed(
        &self,
        scope: &EnvironmentScope,
        token: &str,
        now: i64,
    ) -> Result<(Claims, String)> {
        // Garbage is turned away before the keys are even looked up.
        let (header, _, _) = split(token).ok_or(Error::Unauthenticated)?;
        if self.revoked.contains_key(header.kid.as_str()) {
            return Err(Error::Unauthenticated);
        }
        let env = scope.environment_id().as_str();
        let mut set = self.key_set(scope).await?;
        let find = |set: &KeySet| {
            set.verifying(now_micros())
                .find(|(s, _)| s.kid == header.kid)
                .map(|(s, _)| s.clone())
        };
        let mut signer = find(&set);
        if signer.is_none()
            && set.loaded.elapsed() >= RELOAD_EVERY
            && header.kid.starts_with("sig_")
        {
            // Perhaps rotated in on another replica since the set was read.
            self.sets.remove(env);
            set = self.key_set(scope).await?;
            signer = find(&set);
        }
        let signer = signer.ok_or(Error::Unauthenticated)?;
        let claims = verify_with_key(&signer.kid, &signer.public_key, env, token, now)?;
        Ok((claims, header.kid))
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
        && check_patterns("rooms", &claims.rooms).is_ok()
        && match claims.room_access.as_deref() {
            None => claims.groups.is_empty(),
            Some(STORED_CLAIM) => {
                claims.rooms.is_empty()
                    && claims.groups.len() <= MAX_GROUPS
                    && check_subject_ids("groups", &claims.groups).is_ok()
            }
            Some(_) => false,
        };
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
