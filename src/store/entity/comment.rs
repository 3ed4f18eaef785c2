//! `comments`: comments in threads.

use sea_orm::entity::prelude::*;

/// A row of `comments`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "comments")]
pub struct Model {
    /// Insertion order, for keyset pagination.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Public id, `cm_…`.
    pub id: String,
    /// The environment (tenant).
    pub environment_id: String,
    /// The thread.
    pub thread_id: String,
    /// The author.
    pub user_id: String,
    /// The text.
    pub body: String,
    /// Creation time, µs.
    pub create_time: i64,
    /// Last edit, µs.
    pub edit_time: Option<i64>,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::domain::records::Comment {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            environment_id: m.environment_id,
            thread_id: m.thread_id,
            user_id: m.user_id,
            body: m.body,
            create_time: m.create_time,
            edit_time: m.edit_time,
        }
    }
}
