//! `accounts`: customers.

use sea_orm::entity::prelude::*;

table! {
    /// A row of `accounts`.
    "accounts", id, Debug {
        /// Display name.
        pub display_name: String,
        /// Creation time, µs since the epoch.
        pub create_time: i64,
    }
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
