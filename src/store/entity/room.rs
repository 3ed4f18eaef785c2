//! `rooms`: collaboration rooms of an environment.

use sea_orm::entity::prelude::*;

/// A row of `rooms`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rooms")]
pub struct Model {
    /// Insertion order, for keyset pagination.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The environment (tenant).
    pub environment_id: String,
    /// Customer-chosen id, unique within the environment.
    pub room_id: String,
    /// Metadata as a JSON object of strings.
    pub metadata: String,
    /// Creation time, µs.
    pub create_time: i64,
    /// What every STORED-mode user may do: 0 none, 1 read, 2 write.
    pub default_access: i16,
    /// 1 when `default_access >= 1` (indexed with `seq`, for listing).
    pub readable_by_default: i16,
}

/// No relations are navigated through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for crate::domain::records::Room {
    fn from(m: Model) -> Self {
        Self {
            seq: m.seq,
            metadata: serde_json::from_str(&m.metadata).unwrap_or_default(),
            room_id: m.room_id,
            environment_id: m.environment_id,
            create_time: m.create_time,
            default_access: crate::domain::rooms::RoomAccess::from_stored(m.default_access),
        }
    }
}
