//! API keys of environments: creation, listing, rotation, revocation.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};

use super::Store;
use super::audit::{self, Subject};
use super::entity::{api_key, environment};
use super::environments;
use super::paging::fetch_page;
use crate::auth::credential::{self, CredentialKind, hash_hex};
use crate::cluster::{Killed, Notice};
use crate::domain::audit::{Actor, EventType};
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
    actor: &Actor,
) -> Result<NewKeyPair> {
    let pk = credential::generate(CredentialKind::Publishable);
    let sk = credential::generate(CredentialKind::Secret);
    let new = |kind, cred, value| NewKey {
        kind,
        cred,
        value,
        expire_time: None,
    };
    let publishable = insert_key(
        db,
        env,
        new(api_key::KIND_PUBLISHABLE, &pk, Some(pk.plaintext.expose())),
        now,
        actor,
    )
    .await?;
    let secret = insert_key(db, env, new(api_key::KIND_SECRET, &sk, None), now, actor).await?;
    Ok(NewKeyPair {
        publishable,
        secret,
        secret_plaintext: sk.plaintext,
    })
}

/// A key about to be stored.
struct NewKey<'a> {
    kind: &'a str,
    cred: &'a credential::NewCredential,
    value: Option<&'a str>,
    expire_time: Option<i64>,
}

async fn insert_key(
    db: &impl ConnectionTrait,
    env: &environment::Model,
    key: NewKey<'_>,
    now: i64,
    actor: &Actor,
) -> Result<api_key::Model> {
    let row = api_key::ActiveModel {
        id: Set(new_id(IdKind::ApiKey)),
        environment_id: Set(env.id.clone()),
        account_id: Set(env.account_id.clone()),
        kind: Set(key.kind.to_owned()),
        prefix: Set(key.cred.display_prefix.clone()),
        key_hash: Set(hash_hex(&key.cred.hash)),
        value: Set(key.value.map(str::to_owned)),
        create_time: Set(now),
        revoke_time: Set(None),
        last_use_time: Set(None),
        expire_time: Set(key.expire_time),
        ..Default::default()
    }
    .insert(db)
    .await?;
    audit::record(db, actor, EventType::KeyCreated, key_subject(&row)).await?;
    Ok(row)
}

fn key_subject(key: &api_key::Model) -> Subject<'_> {
    Subject {
        account_id: &key.account_id,
        environment_id: Some(&key.environment_id),
        target_id: &key.id,
    }
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
    actor: &Actor,
    notice: Notice<'_>,
) -> Result<Rotation> {
    let now = now_micros();
    let tx = store.writer().begin().await?;
    let env = environments::find_locked(&tx, scope, environment_id).await?;
    let subject = Subject {
        account_id: scope.account_id(),
        environment_id: Some(&env.id),
        target_id: &env.id,
    };
    audit::record(&tx, actor, EventType::KeysRotated, subject).await?;
    let active = api_key::Entity::find()
        .filter(api_key::Column::EnvironmentId.eq(&env.id))
        .filter(working_at(now))
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
        let key = model.update(&tx).await?;
        audit::record(&tx, actor, EventType::KeyRevoked, key_subject(&key)).await?;
        revoked.push(key);
    }
    let pair = insert_pair(&tx, &env, now, actor).await?;
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

/// Most working keys of one kind an environment may have: enough for a
/// swap (old, new, and a few services mid-migration), few enough that a
/// forgotten key stands out.
pub const MAX_WORKING_KEYS_PER_KIND: u64 = 5;

/// A key made by [`create_key`]; the secret's plaintext is shown once.
#[derive(Debug)]
pub struct CreatedKey {
    /// The key's record.
    pub key: api_key::Model,
    /// The plaintext, for secret keys.
    pub secret_plaintext: Option<Secret>,
}

/// Adds a key of `kind` to one of the scope's environments, next to the
/// ones it has (for zero-downtime swaps), optionally expiring at
/// `expire_time` (µs). FAILED_PRECONDITION past
/// [`MAX_WORKING_KEYS_PER_KIND`].
pub async fn create_key(
    store: &Store,
    scope: &AccountScope,
    environment_id: &str,
    kind: CredentialKind,
    expire_time: Option<i64>,
    actor: &Actor,
) -> Result<CreatedKey> {
    use sea_orm::PaginatorTrait;
    let stored_kind = match kind {
        CredentialKind::Publishable => api_key::KIND_PUBLISHABLE,
        CredentialKind::Secret => api_key::KIND_SECRET,
        CredentialKind::Admin => return Err(Error::invalid("kind", "must be an API key kind")),
    };
    let now = now_micros();
    let tx = store.writer().begin().await?;
    let env = environments::find_locked(&tx, scope, environment_id).await?;
    let working = api_key::Entity::find()
        .filter(api_key::Column::EnvironmentId.eq(&env.id))
        .filter(api_key::Column::Kind.eq(stored_kind))
        .filter(working_at(now))
        .count(&tx)
        .await?;
    if working >= MAX_WORKING_KEYS_PER_KIND {
        return Err(Error::FailedPrecondition(format!(
            "the environment already has {working} working {stored_kind} keys \
             (at most {MAX_WORKING_KEYS_PER_KIND}); revoke one first"
        )));
    }
    let cred = credential::generate(kind);
    let value = (kind == CredentialKind::Publishable).then(|| cred.plaintext.expose());
    let new = NewKey {
        kind: stored_kind,
        cred: &cred,
        value,
        expire_time,
    };
    let key = insert_key(&tx, &env, new, now, actor).await?;
    tx.commit().await?;
    Ok(CreatedKey {
        key,
        secret_plaintext: (kind == CredentialKind::Secret).then_some(cred.plaintext),
    })
}

/// Revokes one of the scope's keys (idempotent). Returns the key and
/// whether this call revoked it.
pub async fn revoke_key(
    store: &Store,
    scope: &AccountScope,
    id: &str,
    actor: &Actor,
    notice: Notice<'_>,
) -> Result<(api_key::Model, bool)> {
    let tx = store.writer().begin().await?;
    let key = api_key::Entity::find()
        .filter(api_key::Column::AccountId.eq(scope.account_id()))
        .filter(api_key::Column::Id.eq(id))
        .one(&tx)
        .await?
        .ok_or(Error::NotFound("key"))?;
    // Serialize with the environment's other key changes, then read the
    // key again under the lock.
    environments::find_locked(&tx, scope, &key.environment_id).await?;
    let key = api_key::Entity::find()
        .filter(api_key::Column::Id.eq(&key.id))
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
    audit::record(&tx, actor, EventType::KeyRevoked, key_subject(&key)).await?;
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
