//! `threads`: comment threads in rooms.

use sea_orm::entity::prelude::*;

/// A row of `threads`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "threads")]
pub struct Model {
    /// Insertion order, for keyset pagination.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Public id, `th_…`.
    pub id: String,
    /// The environment (tenant).
    pub environment_id: String,
    /// The room.
    pub room_id: String,
    /// Number of comments, kept in the same transaction as comment writes.
    pub comment_count: i64,
    /// Creation time, µs.
    pub create_time: i64,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
