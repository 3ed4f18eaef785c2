//! API keys of environments: creation, listing, rotation, revocation.

use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use super::Page;
use super::audit::{self, Subject};
use super::entity::api_key;
use super::paging::fetch_records;
use super::revocation::{DeadCredential, Pending};
use super::tenant::{AccountStore, OwnedEnvironment};
use super::write::Op;
use super::write::Revoked;
use crate::domain::audit::{Actor, EventType};
use crate::domain::credential::{self, CredentialKind, NewCredential};
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::domain::names::DisplayName;
use crate::domain::networks::Networks;
use crate::domain::page::PageRequest;
use crate::domain::permissions::Permissions;
use crate::domain::records::ApiKey;
use crate::domain::secret::Secret;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// A new publishable/secret pair. The secret's plaintext is shown once.
#[derive(Debug)]
pub struct NewKeyPair {
    /// The publishable key's record (its `value` is the whole key).
    pub publishable: ApiKey,
    /// The secret key's record.
    pub secret: ApiKey,
    /// The secret key's plaintext.
    pub secret_plaintext: Secret,
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    /// The new pair.
    pub pair: NewKeyPair,
    /// Keys that were active, with their (possibly future) revocation time.
    pub revoked: Vec<ApiKey>,
}

/// What `CreateKey` may set on a new key besides its kind.
#[derive(Clone, Debug, Default)]
pub struct KeyOptions {
    /// When the key stops working by itself, µs.
    pub expire_time: Option<i64>,
    /// Restricted keys: what they may do (required for them, refused for
    /// the others by the caller).
    pub permissions: Option<Permissions>,
    /// A name to recognise the key by.
    pub display_name: Option<DisplayName>,
    /// Where the key may be used from (empty: anywhere).
    pub networks: Networks,
}

/// A key made by [`AccountStore::create_key`]; the secret's plaintext is
/// shown once.
#[derive(Debug)]
pub struct CreatedKey {
    /// The key's record.
    pub key: ApiKey,
    /// The plaintext, for secret keys.
    pub secret_plaintext: Option<Secret>,
}

/// Most working keys of one kind an environment may have: enough for a
/// swap (old, new, and a few services mid-migration), few enough that a
/// forgotten key stands out.
pub const MAX_WORKING_KEYS_PER_KIND: u64 = 5;
/// Most working restricted keys an environment may have: one per job or
/// service is the point of them, so more than secret keys.
pub const MAX_WORKING_RESTRICTED_KEYS: u64 = 100;

/// The cap on working keys of `kind`.
pub fn max_working(kind: CredentialKind) -> u64 {
    match kind {
        CredentialKind::Restricted => MAX_WORKING_RESTRICTED_KEYS,
        _ => MAX_WORKING_KEYS_PER_KIND,
    }
}

/// Inserts a new key pair for `env` (inside the caller's transaction).
pub(super) async fn insert_pair(
    db: &impl ConnectionTrait,
    env: &OwnedEnvironment,
    now: i64,
    actor: &Actor,
) -> Result<NewKeyPair> {
    let pk = credential::generate(CredentialKind::Publishable);
    let sk = credential::generate(CredentialKind::Secret);
    let none = KeyOptions::default();
    let publishable =
        insert_key(db, env, CredentialKind::Publishable, &pk, &none, now, actor).await?;
    let secret = insert_key(db, env, CredentialKind::Secret, &sk, &none, now, actor).await?;
    Ok(NewKeyPair {
        publishable: publishable.into(),
        secret: secret.into(),
        secret_plaintext: sk.plaintext,
    })
}

/// Stores a key; publishable keys keep their whole value (they are public).
async fn insert_key(
    db: &impl ConnectionTrait,
    env: &OwnedEnvironment,
    kind: CredentialKind,
    cred: &NewCredential,
    options: &KeyOptions,
    now: i64,
    actor: &Actor,
) -> Result<api_key::Model> {
    let row = api_key::ActiveModel {
        id: Set(KeyId::generate().into_string()),
        environment_id: Set(env.0.id.clone()),
        account_id: Set(env.0.account_id.clone()),
        kind: Set(kind),
        prefix: Set(cred.display_prefix.clone()),
        key_hash: Set(cred.hash.to_hex()),
        value: Set(
            (kind == CredentialKind::Publishable).then(|| cred.plaintext.expose().to_owned())
        ),
        create_time: Set(now),
        revoke_time: Set(None),
        last_use_time: Set(None),
        expire_time: Set(options.expire_time),
        permissions: Set(options.permissions.map(Permissions::to_stored)),
        display_name: Set(options.display_name.as_ref().map(|n| n.as_str().to_owned())),
        allowed_cidrs: Set(options.networks.to_stored()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // The event says what the key may do (never the key itself).
    let mut details = vec![("kind", kind.to_value())];
    if let Some(permissions) = &row.permissions {
        details.push(("permissions", permissions.clone()));
    }
    if let Some(cidrs) = &row.allowed_cidrs {
        details.push(("allowed_cidrs", cidrs.clone()));
    }
    if let Some(name) = &row.display_name {
        details.push(("display_name", name.clone()));
    }
    audit::record_with(
        db,
        actor,
        EventType::KeyCreated,
        key_subject(&row),
        &details,
    )
    .await?;
    Ok(row)
}

fn key_subject(key: &api_key::Model) -> Subject<'_> {
    Subject::environment(&key.account_id, &key.environment_id, &key.id)
}

/// Keys that work at `now`: not revoked and not expired, or with their
/// revocation or expiry still in the future.
fn working_at(now: i64) -> sea_orm::Condition {
    use sea_orm::Condition;
    Condition::all()
        .add(
            Condition::any()
                .add(api_key::Column::RevokeTime.is_null())
                .add(api_key::Column::RevokeTime.gt(now)),
        )
        .add(
            Condition::any()
                .add(api_key::Column::ExpireTime.is_null())
                .add(api_key::Column::ExpireTime.gt(now)),
        )
}

impl DeadCredential {
    /// A stored key or token: its id and hex hash as in the database.
    pub(super) fn stored(id: &str, hash_hex: &str) -> Result<Self> {
        Ok(Self {
            id: id.to_owned(),
            hash: credential::CredentialHash::from_hex(hash_hex)
                .ok_or_else(|| Error::internal("a stored credential hash is not hex"))?,
        })
    }

    fn of_key(key: &api_key::Model) -> Result<Self> {
        Self::stored(&key.id, &key.key_hash)
    }
}

impl Pending {
    /// Sorts keys whose end was just set into dead now (at or before
    /// `now`) and scheduled for later: the one place that split is made.
    fn keys(&mut self, keys: &[api_key::Model], now: i64) -> Result<()> {
        for key in keys {
            let entry = DeadCredential::of_key(key)?;
            match key.revoke_time {
                Some(t) if t > now => self.scheduled.push(entry),
                _ => self.dead.push(entry),
            }
        }
        Ok(())
    }
}

impl AccountStore<'_> {
    /// One page of an environment's keys, oldest first. NOT_FOUND if the
    /// environment is not the account's.
    pub async fn list_keys(
        &self,
        environment_id: &EnvironmentId,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>> {
        let env = self
            .find_environment(&self.store.read, environment_id)
            .await?;
        let query = self.select_in::<api_key::Entity>(&env);
        fetch_records(&self.store.read, query, api_key::Column::Seq, page).await
    }

    /// Revokes every active key of the environment and creates a new pair,
    /// in one transaction: a crash leaves either the old pair or the new
    /// one. With `grace_micros` > 0 the old secret keys are scheduled to
    /// stop working that much later instead of at once (publishable keys:
    /// at once).
    pub async fn rotate_keys(
        &self,
        environment_id: &EnvironmentId,
        grace_micros: i64,
        actor: &Actor,
    ) -> Result<Revoked<Rotation>> {
        let now = now_micros();
        self.store
            .write_revoking(Op::RotateKeys, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let env = self.lock_environment(tx, environment_id).await?;
                    // Restricted keys have their own lifecycle: a rotation of the
                    // environment's pair leaves them alone.
                    let active = self
                        .select_in::<api_key::Entity>(&env)
                        .filter(working_at(now))
                        .filter(api_key::Column::Kind.ne(CredentialKind::Restricted))
                        .order_by_asc(api_key::Column::Seq)
                        .all(tx)
                        .await?;
                    let mut revoked = Vec::with_capacity(active.len());
                    for key in active {
                        let planned = if key.kind == CredentialKind::Secret && grace_micros > 0 {
                            now + grace_micros
                        } else {
                            now
                        };
                        let at = key.revoke_time.map_or(planned, |t| t.min(planned));
                        let mut model: api_key::ActiveModel = key.into();
                        model.revoke_time = Set(Some(at));
                        revoked.push(model.update(tx).await?);
                    }
                    // The events come after the updates: once a transaction records
                    // (and holds the audit lock) it locks no more existing rows (see
                    // `audit`'s module docs).
                    let subject = Subject::environment(&env.0.account_id, &env.0.id, &env.0.id);
                    audit::record(tx, actor, EventType::KeysRotated, subject).await?;
                    for key in &revoked {
                        audit::record(tx, actor, EventType::KeyRevoked, key_subject(key)).await?;
                    }
                    let pair = insert_pair(tx, &env, now, actor).await?;
                    pending.keys(&revoked, now)?;
                    Ok(Rotation {
                        pair,
                        revoked: revoked.into_iter().map(Into::into).collect(),
                    })
                })
            })
            .await
    }

    /// Adds a key of `kind` to one of the account's environments, next to
    /// the ones it has (for zero-downtime swaps), with `options`.
    /// FAILED_PRECONDITION past [`max_working`] keys of the kind.
    pub async fn create_key(
        &self,
        environment_id: &EnvironmentId,
        kind: CredentialKind,
        options: &KeyOptions,
        actor: &Actor,
    ) -> Result<CreatedKey> {
        let now = now_micros();
        self.store
            .write(Op::CreateKey, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let env = self.lock_environment(tx, environment_id).await?;
                    let working = self
                        .select_in::<api_key::Entity>(&env)
                        .filter(api_key::Column::Kind.eq(kind))
                        .filter(working_at(now))
                        .count(tx)
                        .await?;
                    let max = max_working(kind);
                    if working >= max {
                        let stored = kind.to_value();
                        return Err(Error::FailedPrecondition(format!(
                            "the environment already has {working} working {stored} keys \
                         (at most {max}); revoke one first"
                        )));
                    }
                    let cred = credential::generate(kind);
                    let key = insert_key(tx, &env, kind, &cred, options, now, actor).await?;
                    Ok(CreatedKey {
                        key: key.into(),
                        secret_plaintext: (kind != CredentialKind::Publishable)
                            .then_some(cred.plaintext),
                    })
                })
            })
            .await
    }

    /// Revokes one of the account's keys (idempotent: revoking a revoked
    /// key returns it and revokes nothing).
    pub async fn revoke_key(&self, id: &KeyId, actor: &Actor) -> Result<Revoked<ApiKey>> {
        self.store
            .write_revoking(Op::RevokeKey, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let by_id = api_key::Column::Id.eq(id.as_str());
                    let key = self
                        .select::<api_key::Entity>()
                        .filter(by_id.clone())
                        .one(tx)
                        .await?
                        .ok_or(Error::NotFound("key"))?;
                    // Serialize with the environment's other key changes, then read the
                    // key again under the lock.
                    let env_id = EnvironmentId::from_stored(key.environment_id);
                    let env = self.lock_environment(tx, &env_id).await?;
                    let key = self
                        .select_in::<api_key::Entity>(&env)
                        .filter(by_id)
                        .one(tx)
                        .await?
                        .ok_or(Error::NotFound("key"))?;
                    let now = now_micros();
                    let key = if key.revoke_time.is_some_and(|t| t <= now) {
                        key
                    } else {
                        let mut active: api_key::ActiveModel = key.into();
                        active.revoke_time = Set(Some(now));
                        let key = active.update(tx).await?;
                        audit::record(tx, actor, EventType::KeyRevoked, key_subject(&key)).await?;
                        pending.keys(std::slice::from_ref(&key), now)?;
                        key
                    };
                    Ok(ApiKey::from(key))
                })
            })
            .await
    }
}
