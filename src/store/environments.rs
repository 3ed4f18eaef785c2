//! Environments of an account.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionTrait,
};

use super::Store;
use super::audit::{self, Subject};
use super::entity::{api_key, comment, environment, room, signing_key, thread, user};
use super::keys::{self, NewKeyPair};
use super::paging::fetch_page;
use super::signing_keys;
use crate::auth::tokens::NewSigningKey;
use crate::cluster::Notice;
use crate::domain::audit::{Actor, EventType};
use crate::domain::ids::{IdKind, new_id};
use crate::domain::page::PageRequest;
use crate::domain::scope::AccountScope;
use crate::domain::scope::EnvironmentScope;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// What `delete_environment` removed, so callers can evict it from caches.
#[derive(Debug)]
pub struct DeletedEnvironment {
    /// The environment that was deleted.
    pub environment: environment::Model,
    /// Its keys, all of which stopped working.
    pub keys: Vec<api_key::Model>,
}

/// Creates an environment and its first key pair in one transaction.
pub async fn create_environment(
    store: &Store,
    scope: &AccountScope,
    display_name: &str,
    signing_key: impl FnOnce(&str) -> NewSigningKey,
    actor: &Actor,
) -> Result<(environment::Model, NewKeyPair)> {
    let now = now_micros();
    let tx = store.writer().begin().await?;
    let env = environment::ActiveModel {
        id: Set(new_id(IdKind::Environment)),
        account_id: Set(scope.account_id().to_owned()),
        display_name: Set(display_name.to_owned()),
        create_time: Set(now),
        update_time: Set(now),
        room_count: Set(0),
        thread_count: Set(0),
        user_count: Set(0),
        comment_count: Set(0),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let on = |target_id| Subject {
        account_id: scope.account_id(),
        environment_id: Some(&env.id),
        target_id,
    };
    audit::record(&tx, actor, EventType::EnvironmentCreated, on(&env.id)).await?;
    let pair = keys::insert_pair(&tx, &env, now, actor).await?;
    let signing = signing_keys::insert(&tx, &env.id, signing_key(&env.id)).await?;
    audit::record(&tx, actor, EventType::SigningKeyCreated, on(&signing.id)).await?;
    tx.commit().await?;
    Ok((env, pair))
}

/// One of the scope's environments, or NOT_FOUND.
pub async fn get_environment(
    store: &Store,
    scope: &AccountScope,
    id: &str,
) -> Result<environment::Model> {
    find(store.reader(), scope, id).await
}

/// The scope's environment `id`, as a query.
fn scoped(scope: &AccountScope, id: &str) -> sea_orm::Select<environment::Entity> {
    environment::Entity::find()
        .filter(environment::Column::AccountId.eq(scope.account_id()))
        .filter(environment::Column::Id.eq(id))
}

/// Looks an environment up within the account scope.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    scope: &AccountScope,
    id: &str,
) -> Result<environment::Model> {
    scoped(scope, id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("environment"))
}

/// Like [`find`], and locks the row until the transaction ends
/// (PostgreSQL `FOR UPDATE`; SQLite has one writer at a time anyway). Every
/// change to an environment's keys, and its deletion, takes this lock
/// first, so they are serialized per environment: two rotations cannot
/// both leave their pair working, the key cap is hard, and a data write
/// racing a delete either lands before it or fails NOT_FOUND.
pub(crate) async fn find_locked(
    db: &impl ConnectionTrait,
    scope: &AccountScope,
    id: &str,
) -> Result<environment::Model> {
    use sea_orm::QuerySelect;
    scoped(scope, id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(Error::NotFound("environment"))
}

/// One page of the scope's environments, oldest first.
pub async fn list_environments(
    store: &Store,
    scope: &AccountScope,
    page: &PageRequest,
) -> Result<(Vec<environment::Model>, String)> {
    let query =
        environment::Entity::find().filter(environment::Column::AccountId.eq(scope.account_id()));
    fetch_page(store.reader(), query, environment::Column::Seq, page).await
}

/// Renames one of the scope's environments.
pub async fn rename_environment(
    store: &Store,
    scope: &AccountScope,
    id: &str,
    display_name: &str,
    actor: &Actor,
) -> Result<environment::Model> {
    let tx = store.writer().begin().await?;
    let env = find_locked(&tx, scope, id).await?;
    let mut active: environment::ActiveModel = env.into();
    active.display_name = Set(display_name.to_owned());
    active.update_time = Set(now_micros());
    let env = active.update(&tx).await?;
    let subject = Subject {
        account_id: scope.account_id(),
        environment_id: Some(&env.id),
        target_id: &env.id,
    };
    audit::record(&tx, actor, EventType::EnvironmentRenamed, subject).await?;
    tx.commit().await?;
    Ok(env)
}

/// Deletes one of the scope's environments with its keys (and data), in one
/// transaction.
pub async fn delete_environment(
    store: &Store,
    scope: &AccountScope,
    id: &str,
    actor: &Actor,
    notice: Notice<'_>,
) -> Result<DeletedEnvironment> {
    let tx = store.writer().begin().await?;
    let env = find_locked(&tx, scope, id).await?;
    let keys = api_key::Entity::find()
        .filter(api_key::Column::EnvironmentId.eq(&env.id))
        .all(&tx)
        .await?;
    api_key::Entity::delete_many()
        .filter(api_key::Column::EnvironmentId.eq(&env.id))
        .exec(&tx)
        .await?;
    // All of the environment's data, in the same transaction.
    macro_rules! delete_data {
        ($($entity:ident),*) => {
            $($entity::Entity::delete_many()
                .filter($entity::Column::EnvironmentId.eq(&env.id))
                .exec(&tx)
                .await?;)*
        };
    }
    delete_data!(comment, thread, room, user, signing_key);
    notice.publish(&tx, &keys::killed(&keys)).await?;
    environment::Entity::delete_many()
        .filter(environment::Column::Id.eq(&env.id))
        .exec(&tx)
        .await?;
    let subject = Subject {
        account_id: scope.account_id(),
        environment_id: Some(&env.id),
        target_id: &env.id,
    };
    audit::record(&tx, actor, EventType::EnvironmentDeleted, subject).await?;
    tx.commit().await?;
    Ok(DeletedEnvironment {
        environment: env,
        keys,
    })
}

/// Counts of an environment's data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rooms.
    pub rooms: u64,
    /// Threads.
    pub threads: u64,
    /// Users.
    pub users: u64,
    /// Comments.
    pub comments: u64,
}

/// The environment's counters of rooms, threads, users and comments (one
/// row read; the counters change with every write, in its transaction).
pub async fn stats(store: &Store, scope: &EnvironmentScope) -> Result<Stats> {
    let env = environment::Entity::find()
        .filter(environment::Column::AccountId.eq(scope.account_id()))
        .filter(environment::Column::Id.eq(scope.environment_id()))
        .one(store.reader())
        .await?
        .ok_or(Error::NotFound("environment"))?;
    let count = |n: i64| n.max(0) as u64;
    Ok(Stats {
        rooms: count(env.room_count),
        threads: count(env.thread_count),
        users: count(env.user_count),
        comments: count(env.comment_count),
    })
}

/// The environment scope of one of the account's environments, for admin
/// browsing; NOT_FOUND if it is not the account's.
pub async fn environment_scope(
    store: &Store,
    scope: &AccountScope,
    id: &str,
) -> Result<EnvironmentScope> {
    let env = find(store.reader(), scope, id).await?;
    Ok(EnvironmentScope::new(env.account_id, env.id))
}
