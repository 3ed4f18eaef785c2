//! `sessions`: a member's signed-in sessions (`ses_…` credentials).

use sea_orm::entity::prelude::*;

/// A row of `sessions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Insertion order.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Public id, `sid_…` (audit and revocation; never the token).
    #[sea_orm(unique)]
    pub id: String,
    /// The member signed in.
    pub member_id: String,
    /// The member's account.
    pub account_id: String,
    /// Hex SHA-256 of the whole session token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Sign-in time, µs.
    pub create_time: i64,
    /// When the session ends by itself, µs.
    pub expire_time: i64,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
