//! Signing keys of user tokens: one per environment.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};

use super::entity::signing_key;
use super::tenant::EnvironmentStore;
use crate::domain::ids::{EnvironmentId, SigningKeyId};
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

/// Inserts a signing key (inside the caller's transaction).
pub(super) async fn insert(
    db: &impl ConnectionTrait,
    environment_id: &EnvironmentId,
    key: NewSigningKey,
) -> Result<signing_key::Model> {
    Ok(signing_key::ActiveModel {
        id: Set(key.id.into_string()),
        environment_id: Set(environment_id.as_str().to_owned()),
        public_key: Set(key.public_key),
        sealed_private_key: Set(key.sealed_private_key),
        create_time: Set(now_micros()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

impl EnvironmentStore<'_> {
    /// The environment's signing key, if it has one.
    pub async fn signing_key(&self) -> Result<Option<signing_key::Model>> {
        Ok(self
            .select::<signing_key::Entity>()
            .one(&self.store.read)
            .await?)
    }

    /// Inserts the environment's signing key unless another request did
    /// first; returns the one that is stored.
    pub async fn insert_signing_key(&self, key: NewSigningKey) -> Result<signing_key::Model> {
        match insert(&self.store.write, self.id(), key).await {
            Ok(row) => Ok(row),
            Err(Error::AlreadyExists(_)) => self
                .signing_key()
                .await?
                .ok_or_else(|| Error::internal("signing key vanished")),
            Err(e) => Err(e),
        }
    }
}
