//! `accounts`: customers.

use sea_orm::entity::prelude::*;

/// A row of `accounts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    /// Insertion order, for keyset pagination.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Public id, `acct_…`.
    #[sea_orm(unique)]
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Creation time, µs since the epoch.
    pub create_time: i64,
}

impl From<Model> for crate::domain::records::Account {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            display_name: m.display_name,
            create_time: m.create_time,
        }
    }
}

/// No relations are navigated through sea-orm; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
