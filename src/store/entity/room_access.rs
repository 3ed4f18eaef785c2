//! `room_accesses`: a room's user and group entries (STORED mode).

use sea_orm::entity::prelude::*;

/// A row of `room_accesses`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_accesses")]
pub struct Model {
    /// The environment (tenant).
    #[sea_orm(primary_key, auto_increment = false)]
    pub environment_id: String,
    /// The room's `seq`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub room_seq: i64,
    /// `u:<user id>` or `g:<group id>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    /// 0 none, 1 read, 2 write.
    pub access: i16,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
