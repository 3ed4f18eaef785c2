//! Signing keys of user tokens: several per environment, each STANDBY,
//! ACTIVE, RETIRING or REVOKED by its times (`crate::domain::signing`).
//!
//! Rotation and revocation take the environment's lock first, like every
//! change to its API keys, so two rotations cannot both add a standby key
//! and a revocation's replacement is the only one.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::Store;
use super::audit::{self, Subject};
use super::entity::{environment, signing_key};
use super::revocation::RevokedSigningKey;
use super::tenant::{AccountStore, EnvironmentStore};
use super::write::Op;
use super::write::Revoked;
use crate::domain::audit::{Actor, EventType};
use crate::domain::ids::{AccountId, EnvironmentId, SigningKeyId};
use crate::domain::records::SigningKey;
use crate::domain::signing::{self, KeyState, KeyTimes};
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// A new signing key, ready to store (made and sealed by `crate::auth`).
#[derive(Debug)]
pub struct NewSigningKey {
    /// `sig_…`
    pub id: SigningKeyId,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// Sealed PKCS#8 private key.
    pub sealed_private_key: Vec<u8>,
}

/// What `RotateSigningKey` did.
#[derive(Debug)]
pub struct Rotated {
    /// The new key (STANDBY until its `activate_time`).
    pub key: SigningKey,
    /// The key it replaces, if the environment had an active one.
    pub previous: Option<SigningKey>,
}

/// What `RevokeSigningKey` did.
#[derive(Debug)]
pub struct RevokedKey {
    /// The revoked key.
    pub key: SigningKey,
    /// The key that signs from now on, when the revoked one was ACTIVE.
    pub replacement: Option<SigningKey>,
}

/// The times that decide a stored key's state.
pub fn times(row: &SigningKey) -> KeyTimes {
    KeyTimes {
        seq: row.seq,
        activate_time: row.activate_time,
        revoke_time: row.revoke_time,
    }
}

/// Each row's state at `now`.
pub fn states(rows: &[SigningKey], now: i64) -> Vec<KeyState> {
    let times: Vec<KeyTimes> = rows.iter().map(times).collect();
    signing::states(&times, now)
}

/// Inserts a signing key that signs at once (inside the caller's
/// transaction).
pub(super) async fn insert(
    db: &impl ConnectionTrait,
    environment_id: &EnvironmentId,
    key: &NewSigningKey,
) -> Result<SigningKey> {
    let now = now_micros();
    insert_at(db, environment_id, key, now, now).await
}

/// Inserts a signing key that signs from `activate_time`.
async fn insert_at(
    db: &impl ConnectionTrait,
    environment_id: &EnvironmentId,
    key: &NewSigningKey,
    now: i64,
    activate_time: i64,
) -> Result<SigningKey> {
    Ok(signing_key::ActiveModel {
        id: Set(key.id.as_str().to_owned()),
        environment_id: Set(environment_id.as_str().to_owned()),
        public_key: Set(key.public_key.clone()),
        sealed_private_key: Set(key.sealed_private_key.clone()),
        create_time: Set(now),
        activate_time: Set(activate_time),
        revoke_time: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?
    .into())
}

/// Every signing key of an environment, oldest first.
async fn all(db: &impl ConnectionTrait, environment_id: &str) -> Result<Vec<SigningKey>> {
    let rows = signing_key::Entity::find()
        .filter(signing_key::Column::EnvironmentId.eq(environment_id))
        .order_by_asc(signing_key::Column::Seq)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

impl EnvironmentStore<'_> {
    /// Every signing key of the environment, oldest first (callers filter
    /// by state).
    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows = self
            .select::<signing_key::Entity>()
            .order_by_asc(signing_key::Column::Seq)
            .all(&self.store.read)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The environment's keys, after giving it a key that signs now if it
    /// has none (environments made before signing keys existed, or whose
    /// only key is standby). Under the environment's lock, so concurrent
    /// callers add one key, not several.
    pub async fn ensure_signing_key(
        &self,
        key: impl Fn() -> NewSigningKey + Sync,
    ) -> Result<Vec<SigningKey>> {
        let now = now_micros();
        let rows = self.signing_keys().await?;
        if signing::active(&rows.iter().map(times).collect::<Vec<_>>(), now).is_some() {
            return Ok(rows);
        }
        let key = &key;
        self.store
            .write(Op::EnsureSigningKey, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    self.select::<environment::Entity>()
                        .lock_exclusive()
                        .one(tx)
                        .await?
                        .ok_or(Error::NotFound("environment"))?;
                    let rows = all(tx, self.id().as_str()).await?;
                    let now = now_micros();
                    let rows = if signing::active(&rows.iter().map(times).collect::<Vec<_>>(), now)
                        .is_some()
                    {
                        rows
                    } else {
                        insert_at(tx, self.id(), &key(), now, now).await?;
                        all(tx, self.id().as_str()).await?
                    };
                    Ok(rows)
                })
            })
            .await
    }
}

impl AccountStore<'_> {
    /// Adds a STANDBY key that signs from `now + standby` (µs) and
    /// records `signing_key.rotated`. FAILED_PRECONDITION while another
    /// key is still standby. An environment without an active key gets
    /// one that signs at once (nothing to wait for).
    pub async fn rotate_signing_key(
        &self,
        environment_id: &EnvironmentId,
        key: NewSigningKey,
        standby: i64,
        actor: &Actor,
    ) -> Result<Rotated> {
        let key = &key;
        self.store
            .write(Op::RotateSigningKey, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let env = self.lock_environment(tx, environment_id).await?;
                    let rows = all(tx, environment_id.as_str()).await?;
                    let now = now_micros();
                    let states = states(&rows, now);
                    if let Some(i) = states.iter().position(|s| *s == KeyState::Standby) {
                        return Err(Error::FailedPrecondition(format!(
                            "signing key {} is already standby (it signs from its activate_time); \
                         rotate again after it is active",
                            rows[i].id
                        )));
                    }
                    let previous = states
                        .iter()
                        .position(|s| *s == KeyState::Active)
                        .map(|i| rows[i].clone());
                    let activate_time = if previous.is_some() {
                        now.saturating_add(standby)
                    } else {
                        now
                    };
                    let key = insert_at(tx, environment_id, key, now, activate_time).await?;
                    let subject = Subject::environment(&env.0.account_id, &env.0.id, &key.id);
                    let details = [(
                        "previous_kid",
                        previous.as_ref().map(|p| p.id.clone()).unwrap_or_default(),
                    )];
                    audit::record_with(tx, actor, EventType::SigningKeyRotated, subject, &details)
                        .await?;
                    Ok(Rotated { key, previous })
                })
            })
            .await
    }

    /// Revokes a signing key of one of the account's environments (every
    /// token it signed stops working once the result is finished) and
    /// records `signing_key.revoked`; an ACTIVE key is replaced by
    /// `replacement`, which signs at once. Idempotent; NOT_FOUND for a key
    /// of another environment.
    pub async fn revoke_signing_key(
        &self,
        environment_id: &EnvironmentId,
        kid: &SigningKeyId,
        replacement: impl Fn() -> NewSigningKey + Sync,
        actor: &Actor,
    ) -> Result<Revoked<RevokedKey>> {
        let replacement = &replacement;
        self.store
            .write_revoking(Op::RevokeSigningKey, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let env = self.lock_environment(tx, environment_id).await?;
                    let rows = all(tx, environment_id.as_str()).await?;
                    let Some(index) = rows.iter().position(|r| r.id == kid.as_str()) else {
                        return Err(Error::NotFound("signing key"));
                    };
                    let mut key = rows[index].clone();
                    if key.revoke_time.is_some() {
                        // Already revoked: nothing changes, nothing to announce.
                        return Ok(RevokedKey {
                            key,
                            replacement: None,
                        });
                    }
                    let now = now_micros();
                    let was_active = states(&rows, now)[index] == KeyState::Active;
                    // Rows first, the audit record last (see `audit`'s lock rule).
                    signing_key::Entity::update_many()
                        .col_expr(signing_key::Column::RevokeTime, Expr::value(now))
                        .filter(signing_key::Column::Id.eq(key.id.as_str()))
                        .exec(tx)
                        .await?;
                    key.revoke_time = Some(now);
                    let replacement = if was_active {
                        Some(insert_at(tx, environment_id, &replacement(), now, now).await?)
                    } else {
                        None
                    };
                    let subject = Subject::environment(&env.0.account_id, &env.0.id, &key.id);
                    let details: Vec<(&str, String)> = replacement
                        .iter()
                        .map(|r| ("replacement_kid", r.id.clone()))
                        .collect();
                    audit::record_with(tx, actor, EventType::SigningKeyRevoked, subject, &details)
                        .await?;
                    pending.signing_keys.push(RevokedSigningKey {
                        environment_id: environment_id.as_str().to_owned(),
                        kid: key.id.clone(),
                    });
                    Ok(RevokedKey { key, replacement })
                })
            })
            .await
    }
}

impl Store {
    /// The account of an environment, if it exists: what makes its public
    /// signing keys (the JWKS, public by design) reachable by id alone.
    pub async fn environment_account(
        &self,
        environment_id: &EnvironmentId,
    ) -> Result<Option<AccountId>> {
        Ok(environment::Entity::find()
            .filter(environment::Column::Id.eq(environment_id.as_str()))
            .select_only()
            .column(environment::Column::AccountId)
            .into_tuple::<String>()
            .one(&self.read)
            .await?
            .map(AccountId::from_stored))
    }
}
