//! Users of an environment: upserted when a token is minted for them, and
//! inserted (with an empty profile) when they author a thread or comment.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::Page;
use super::counters::Delta;
use super::entity::user;
use super::paging::fetch_records;
use super::tenant::EnvironmentStore;
use super::write::Op;
use crate::domain::names::ResourceId;
use crate::domain::page::PageRequest;
use crate::domain::records::User;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

impl EnvironmentStore<'_> {
    /// Creates the user or updates their profile. Writes nothing when the
    /// stored profile is already the same (the common case for returning
    /// users).
    pub async fn upsert_user(
        &self,
        user_id: &ResourceId,
        name: &str,
        avatar_url: &str,
    ) -> Result<User> {
        for _ in 0..2 {
            if let Some(u) = self.find_user(user_id).await?
                && u.name == name
                && u.avatar_url == avatar_url
            {
                return Ok(u.into());
            }
            let written = self
                .store
                .write(Op::UpsertUser, |w| {
                    Box::pin(async move {
                        let tx = w.db();
                        let now = now_micros();
                        let existing = self
                            .select::<user::Entity>()
                            .filter(user::Column::UserId.eq(user_id.as_str()))
                            .one(tx)
                            .await?;
                        if let Some(u) = existing {
                            let mut active: user::ActiveModel = u.into();
                            active.name = Set(name.to_owned());
                            active.avatar_url = Set(avatar_url.to_owned());
                            active.update_time = Set(now);
                            return Ok(active.update(tx).await?);
                        }
                        let inserted = user::ActiveModel {
                            environment_id: Set(self.id().as_str().to_owned()),
                            user_id: Set(user_id.as_str().to_owned()),
                            name: Set(name.to_owned()),
                            avatar_url: Set(avatar_url.to_owned()),
                            create_time: Set(now),
                            update_time: Set(now),
                            ..Default::default()
                        }
                        .insert(tx)
                        .await?;
                        let delta = Delta {
                            users: 1,
                            ..Delta::default()
                        };
                        self.count(tx, delta).await?;
                        Ok(inserted)
                    })
                })
                .await;
            match written {
                // A concurrent first mint inserted the user: read it again.
                Err(Error::AlreadyExists(_)) => continue,
                other => return other.map(Into::into),
            }
        }
        Err(Error::internal("user upsert kept conflicting"))
    }

    /// Makes sure `user_id` exists (with an empty profile if new), inside
    /// the caller's transaction: whoever authors a thread or comment is a
    /// user of the environment. Returns 1 if it was inserted (for the
    /// caller's counter delta), else 0.
    pub(super) async fn ensure_user(
        &self,
        db: &impl ConnectionTrait,
        user_id: &ResourceId,
        now: i64,
    ) -> Result<i64> {
        let row = user::ActiveModel {
            environment_id: Set(self.id().as_str().to_owned()),
            user_id: Set(user_id.as_str().to_owned()),
            name: Set(String::new()),
            avatar_url: Set(String::new()),
            create_time: Set(now),
            update_time: Set(now),
            ..Default::default()
        };
        let inserted = user::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([user::Column::EnvironmentId, user::Column::UserId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        Ok(i64::from(inserted > 0))
    }

    async fn find_user(&self, user_id: &ResourceId) -> Result<Option<user::Model>> {
        Ok(self
            .select::<user::Entity>()
            .filter(user::Column::UserId.eq(user_id.as_str()))
            .one(&self.store.read)
            .await?)
    }

    /// One user, or NOT_FOUND.
    pub async fn user(&self, user_id: &ResourceId) -> Result<User> {
        self.find_user(user_id)
            .await?
            .map(Into::into)
            .ok_or(Error::NotFound("user"))
    }

    /// One page of the environment's users, oldest first.
    pub async fn list_users(&self, page: &PageRequest) -> Result<Page<User>> {
        let query = self.select::<user::Entity>();
        fetch_records(&self.store.read, query, user::Column::Seq, page).await
    }
}
