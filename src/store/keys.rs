//! API keys of environments: creation, listing, rotation, revocation.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};

use super::Store;
use super::entity::{api_key, environment};
use super::environments;
use super::paging::fetch_page;
use crate::auth::credential::{self, CredentialKind, hash_hex};
use crate::cluster::{Killed, Notice};
use crate::domain::ids::{IdKind, new_id};
use crate::domain::page::PageRequest;
use crate::domain::scope::AccountScope;
use crate::domain::secret::Secret;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// A new publishable/secret pair. The secret's plaintext is shown once.
#[derive(Debug)]
pub struct NewKeyPair {
    /// The publishable key's record (its `value` is the whole key).
    pub publishable: api_key::Model,
    /// The secret key's record.
    pub secret: api_key::Model,
    /// The secret key's plaintext.
    pub secret_plaintext: Secret,
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    /// The new pair.
    pub pair: NewKeyPair,
    /// Keys that were active, with their (possibly future) revocation time.
    pub revoked: Vec<api_key::Model>,
    /// The rotation's time: keys revoked at or before it are dead now.
    pub now: i64,
}

/// Inserts a new key pair for `env` (inside the caller's transaction).
pub(crate) async fn insert_pair(
    db: &impl ConnectionTrait,
    env: &environment::Model,
    now: i64,
) -> Result<NewKeyPair> {
    let pk = credential::generate(CredentialKind::Publishable);
    let sk = credential::generate(CredentialKind::Secret);
    let publishable = insert_key(
        db,
        env,
        api_key::KIND_PUBLISHABLE,
        &pk,
        Some(pk.plaintext.expose()),
        now,
    )
    .await?;
    let secret = insert_key(db, env, api_key::KIND_SECRET, &sk, None, now).await?;
    Ok(NewKeyPair {
        publishable,
        secret,
        secret_plaintext: sk.plaintext,
    })
}

async fn insert_key(
    db: &impl ConnectionTrait,
    env: &environment::Model,
    kind: &str,
    cred: &credential::NewCredential,
    value: Option<&str>,
    now: i64,
) -> Result<api_key::Model> {
    Ok(api_key::ActiveModel {
        id: Set(new_id(IdKind::ApiKey)),
        environment_id: Set(env.id.clone()),
        account_id: Set(env.account_id.clone()),
        kind: Set(kind.to_owned()),
        prefix: Set(cred.display_prefix.clone()),
        key_hash: Set(hash_hex(&cred.hash)),
        value: Set(value.map(str::to_owned)),
        create_time: Set(now),
        revoke_time: Set(None),
        last_use_time: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// One page of an environment's keys, oldest first. NOT_FOUND if the
/// environment is not the scope's.
pub async fn list_keys(
    store: &Store,
    scope: &AccountScope,
    environment_id: &str,
    page: &PageRequest,
) -> Result<(Vec<api_key::Model>, String)> {
    let env = environments::find(store.reader(), scope, environment_id).await?;
    let query = api_key::Entity::find()
        .filter(api_key::Column::AccountId.eq(scope.account_id()))
        .filter(api_key::Column::EnvironmentId.eq(&env.id));
    fetch_page(store.reader(), query, api_key::Column::Seq, page).await
}

/// Revokes every active key of the environment and creates a new pair, in
/// one transaction: a crash leaves either the old pair or the new one.
/// With `grace_micros` > 0 the old secret keys are scheduled to stop
/// working that much later instead of at once (publishable keys: at once).
pub async fn rotate_keys(
    store: &Store,
    scope: &AccountScope,
    environment_id: &str,
    grace_micros: i64,
    notice: Notice<'_>,
) -> Result<Rotation> {
    let now = now_micros();
    let tx = store.writer().begin().await?;
    let env = environments::find(&tx, scope, environment_id).await?;
    // Active: not revoked, or revocation scheduled in the future.
    let active = api_key::Entity::find()
        .filter(api_key::Column::EnvironmentId.eq(&env.id))
        .filter(
            sea_orm::Condition::any()
                .add(api_key::Column::RevokeTime.is_null())
                .add(api_key::Column::RevokeTime.gt(now)),
        )
        .order_by_asc(api_key::Column::Seq)
        .all(&tx)
        .await?;
    let mut revoked = Vec::with_capacity(active.len());
    for key in active {
        let planned = if key.kind == api_key::KIND_SECRET && grace_micros > 0 {
            now + grace_micros
        } else {
            now
        };
        let at = key.revoke_time.map_or(planned, |t| t.min(planned));
        let mut model: api_key::ActiveModel = key.into();
        model.revoke_time = Set(Some(at));
        revoked.push(model.update(&tx).await?);
    }
    let pair = insert_pair(&tx, &env, now).await?;
    let (now_dead, later): (Vec<_>, Vec<_>) = revoked
        .iter()
        .cloned()
        .partition(|k| k.revoke_time.is_some_and(|t| t <= now));
    notice
        .publish_with_scheduled(&tx, &killed(&now_dead), &killed(&later))
        .await?;
    tx.commit().await?;
    Ok(Rotation { pair, revoked, now })
}

/// Revokes one of the scope's keys (idempotent). Returns the key and
/// whether this call revoked it.
pub async fn revoke_key(
    store: &Store,
    scope: &AccountScope,
    id: &str,
    notice: Notice<'_>,
) -> Result<(api_key::Model, bool)> {
    let tx = store.writer().begin().await?;
    let key = api_key::Entity::find()
        .filter(api_key::Column::AccountId.eq(scope.account_id()))
        .filter(api_key::Column::Id.eq(id))
        .one(&tx)
        .await?
        .ok_or(Error::NotFound("key"))?;
    let now = now_micros();
    if key.revoke_time.is_some_and(|t| t <= now) {
        return Ok((key, false));
    }
    let mut active: api_key::ActiveModel = key.into();
    active.revoke_time = Set(Some(now_micros()));
    let key = active.update(&tx).await?;
    notice
        .publish(&tx, &killed(std::slice::from_ref(&key)))
        .await?;
    tx.commit().await?;
    Ok((key, true))
}

/// The (id, hash) pairs of keys, as announced to other replicas.
pub fn killed(keys: &[api_key::Model]) -> Vec<Killed> {
    keys.iter()
        .map(|k| (k.id.clone(), k.key_hash.clone()))
        .collect()
}
