//! Environments of an account, and an environment's own counters.

use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use super::Page;
use super::audit::{self, Subject};
use super::entity::{
    api_key, comment, environment, key_usage, room, room_access, signing_key, thread, user,
    user_token_revocation,
};
use super::keys::{self, NewKeyPair};
use super::paging::fetch_records;
use super::revocation::DeadCredential;
use super::signing_keys::{self, NewSigningKey};
use super::tenant::{AccountStore, EnvironmentStore, OwnedEnvironment};
use super::write::Op;
use super::write::Revoked;
use crate::domain::audit::{Actor, EventType};
use crate::domain::ids::EnvironmentId;
use crate::domain::names::DisplayName;
use crate::domain::page::PageRequest;
use crate::domain::records::{ApiKey, Environment};
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// What `delete_environment` removed.
#[derive(Debug)]
pub struct DeletedEnvironment {
    /// The environment that was deleted.
    pub environment: Environment,
    /// Its keys, all of which stopped working.
    pub keys: Vec<ApiKey>,
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

fn on_environment(env: &environment::Model) -> Subject<'_> {
    Subject::environment(&env.account_id, &env.id, &env.id)
}

impl AccountStore<'_> {
    /// Creates an environment with its first key pair and signing key in
    /// one transaction.
    pub async fn create_environment(
        &self,
        display_name: &DisplayName,
        signing_key: impl FnOnce(&EnvironmentId) -> NewSigningKey,
        actor: &Actor,
    ) -> Result<(Environment, NewKeyPair)> {
        let now = now_micros();
        let id = EnvironmentId::generate();
        let new_signing_key = signing_key(&id);
        let (id, new_signing_key) = (&id, &new_signing_key);
        self.store
            .write(Op::CreateEnvironment, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let env = environment::ActiveModel {
                        id: Set(id.as_str().to_owned()),
                        account_id: Set(self.id().as_str().to_owned()),
                        display_name: Set(display_name.as_str().to_owned()),
                        create_time: Set(now),
                        update_time: Set(now),
                        room_count: Set(0),
                        thread_count: Set(0),
                        user_count: Set(0),
                        comment_count: Set(0),
                        ..Default::default()
                    }
                    .insert(tx)
                    .await?;
                    audit::record(
                        tx,
                        actor,
                        EventType::EnvironmentCreated,
                        on_environment(&env),
                    )
                    .await?;
                    let env = OwnedEnvironment(env);
                    let pair = keys::insert_pair(tx, &env, now, actor).await?;
                    let signing = signing_keys::insert(tx, id, new_signing_key).await?;
                    let subject = Subject::environment(&env.0.account_id, &env.0.id, &signing.id);
                    audit::record(tx, actor, EventType::SigningKeyCreated, subject).await?;
                    Ok((env.0.into(), pair))
                })
            })
            .await
    }

    /// One of the account's environments, or NOT_FOUND.
    pub async fn environment(&self, id: &EnvironmentId) -> Result<Environment> {
        Ok(self.find_environment(&self.store.read, id).await?.0.into())
    }

    /// One page of the account's environments, oldest first.
    pub async fn list_environments(&self, page: &PageRequest) -> Result<Page<Environment>> {
        let query = self.select::<environment::Entity>();
        fetch_records(&self.store.read, query, environment::Column::Seq, page).await
    }

    /// Renames one of the account's environments.
    pub async fn rename_environment(
        &self,
        id: &EnvironmentId,
        display_name: &DisplayName,
        actor: &Actor,
    ) -> Result<Environment> {
        self.store
            .write(Op::RenameEnvironment, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let env = self.lock_environment(tx, id).await?;
                    let mut active: environment::ActiveModel = env.0.into();
                    active.display_name = Set(display_name.as_str().to_owned());
                    active.update_time = Set(now_micros());
                    let env = active.update(tx).await?;
                    audit::record(
                        tx,
                        actor,
                        EventType::EnvironmentRenamed,
                        on_environment(&env),
                    )
                    .await?;
                    Ok(Environment::from(env))
                })
            })
            .await
    }

    /// Deletes one of the account's environments with its keys and data,
    /// in one transaction; every key stops working.
    pub async fn delete_environment(
        &self,
        id: &EnvironmentId,
        actor: &Actor,
    ) -> Result<Revoked<DeletedEnvironment>> {
        self.store
            .write_revoking(Op::DeleteEnvironment, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let env = self.lock_environment(tx, id).await?;
                    let keys = self.select_in::<api_key::Entity>(&env).all(tx).await?;
                    // All of the environment's rows, in the same transaction.
                    macro_rules! delete_data {
                    ($($entity:ident),*) => {
                        $(self.delete_in::<$entity::Entity>(&env).exec(tx).await?;)*
                    };
                }
                    delete_data!(
                        api_key,
                        key_usage,
                        comment,
                        thread,
                        room_access,
                        room,
                        user,
                        signing_key,
                        user_token_revocation,
                        environment
                    );
                    audit::record(
                        tx,
                        actor,
                        EventType::EnvironmentDeleted,
                        on_environment(&env.0),
                    )
                    .await?;
                    for key in &keys {
                        pending
                            .dead
                            .push(DeadCredential::stored(&key.id, &key.key_hash)?);
                    }
                    pending
                        .deleted_environments
                        .push(EnvironmentId::from_stored(env.0.id.clone()));
                    let deleted = DeletedEnvironment {
                        environment: env.0.into(),
                        keys: keys.into_iter().map(Into::into).collect(),
                    };
                    Ok(deleted)
                })
            })
            .await
    }
}

impl EnvironmentStore<'_> {
    /// The environment's counters of rooms, threads, users and comments (one
    /// row read; the counters change with every write, in its transaction).
    pub async fn stats(&self) -> Result<Stats> {
        let env = self
            .select::<environment::Entity>()
            .one(&self.store.read)
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
}
