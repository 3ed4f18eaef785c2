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

impl From<Model> for crate::domain::records::Thread {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            environment_id: m.environment_id,
            room_id: m.room_id,
            comment_count: m.comment_count,
            create_time: m.create_time,
        }
    }
}
