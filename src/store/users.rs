//! Users of an environment, upserted when a token is minted.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};

use super::Store;
use super::counters::{self, Delta};
use super::entity::user;
use super::paging::fetch_page;
use crate::domain::page::PageRequest;
use crate::domain::scope::EnvironmentScope;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// Creates the user or updates their profile. Writes nothing when the
/// stored profile is already the same (the common case for returning users).
pub async fn upsert_user(
    store: &Store,
    scope: &EnvironmentScope,
    user_id: &str,
    name: &str,
    avatar_url: &str,
) -> Result<user::Model> {
    for _ in 0..2 {
        let existing = find(store.reader(), scope, user_id).await?;
        let now = now_micros();
        let result = match existing {
            Some(u) if u.name == name && u.avatar_url == avatar_url => return Ok(u),
            Some(u) => {
                let mut active: user::ActiveModel = u.into();
                active.name = Set(name.to_owned());
                active.avatar_url = Set(avatar_url.to_owned());
                active.update_time = Set(now);
                active.update(store.writer()).await
            }
            None => {
                let tx = store.writer().begin().await?;
                let inserted = user::ActiveModel {
                    environment_id: Set(scope.environment_id().to_owned()),
                    user_id: Set(user_id.to_owned()),
                    name: Set(name.to_owned()),
                    avatar_url: Set(avatar_url.to_owned()),
                    create_time: Set(now),
                    update_time: Set(now),
                    ..Default::default()
                }
                .insert(&tx)
                .await;
                if inserted.is_ok() {
                    counters::add(
                        &tx,
                        scope,
                        Delta {
                            users: 1,
                            ..Delta::default()
                        },
                    )
                    .await?;
                    tx.commit().await?;
                }
                inserted
            }
        };
        match result.map_err(Error::from) {
            // A concurrent first mint inserted the user: read it again.
            Err(Error::AlreadyExists(_)) => continue,
            other => return other,
        }
    }
    Err(Error::internal("user upsert kept conflicting"))
}

async fn find(
    db: &impl sea_orm::ConnectionTrait,
    scope: &EnvironmentScope,
    user_id: &str,
) -> Result<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(user::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

/// One user, or NOT_FOUND.
pub async fn get_user(
    store: &Store,
    scope: &EnvironmentScope,
    user_id: &str,
) -> Result<user::Model> {
    find(store.reader(), scope, user_id)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// One page of the environment's users, oldest first.
pub async fn list_users(
    store: &Store,
    scope: &EnvironmentScope,
    page: &PageRequest,
) -> Result<(Vec<user::Model>, String)> {
    let query = user::Entity::find().filter(user::Column::EnvironmentId.eq(scope.environment_id()));
    fetch_page(store.reader(), query, user::Column::Seq, page).await
}
