//! Signing keys: one per environment.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::Store;
use super::entity::signing_key;
use crate::auth::tokens::NewSigningKey;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// The environment's signing key, if it has one.
pub async fn find(store: &Store, environment_id: &str) -> Result<Option<signing_key::Model>> {
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::EnvironmentId.eq(environment_id))
        .one(store.reader())
        .await?)
}

/// Inserts a signing key (inside the caller's transaction).
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    environment_id: &str,
    key: NewSigningKey,
) -> Result<signing_key::Model> {
    Ok(signing_key::ActiveModel {
        id: Set(key.id),
        environment_id: Set(environment_id.to_owned()),
        public_key: Set(key.public_key),
        sealed_private_key: Set(key.sealed_private_key),
        create_time: Set(now_micros()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Inserts the environment's signing key unless another request did first;
/// returns the one that is stored.
pub async fn insert_or_get(
    store: &Store,
    environment_id: &str,
    key: NewSigningKey,
) -> Result<signing_key::Model> {
    match insert(store.writer(), environment_id, key).await {
        Ok(row) => Ok(row),
        Err(Error::AlreadyExists(_)) => find(store, environment_id)
            .await?
            .ok_or_else(|| Error::internal("signing key vanished")),
        Err(e) => Err(e),
    }
}
