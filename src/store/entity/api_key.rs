//! `api_keys`: publishable and secret keys of environments.

use sea_orm::entity::prelude::*;

/// Stored value of `kind` for publishable keys.
pub const KIND_PUBLISHABLE: &str = "publishable";
/// Stored value of `kind` for secret keys.
pub const KIND_SECRET: &str = "secret";

/// A row of `api_keys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// Insertion order, for keyset pagination.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Public id, `key_…`.
    #[sea_orm(unique)]
    pub id: String,
    /// The environment the key opens. Resolution reads it from here, never
    /// from the key's text.
    pub environment_id: String,
    /// The environment's account, denormalised so admin queries scope by
    /// account without a join.
    pub account_id: String,
    /// `publishable` or `secret`.
    pub kind: String,
    /// First 12 characters of the key.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The whole key, for publishable keys only (they are public).
    pub value: Option<String>,
    /// Creation time, µs.
    pub create_time: i64,
    /// Revocation time, µs; `None` while active.
    pub revoke_time: Option<i64>,
    /// Last authenticated use, µs (approximate).
    pub last_use_time: Option<i64>,
    /// When the key stops working by itself, µs; `None`: never.
    pub expire_time: Option<i64>,
}

impl Model {
    /// When the key stops (or stopped) working: the earlier of its
    /// revocation and its expiry.
    pub fn end_time(&self) -> Option<i64> {
        match (self.revoke_time, self.expire_time) {
            (Some(r), Some(e)) => Some(r.min(e)),
            (r, e) => r.or(e),
        }
    }
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
