//! `users`: end users of an environment, upserted by `MintUserToken`.

use sea_orm::entity::prelude::*;

table! {
    /// A row of `users`.
    "users", Debug {
        /// Insertion order, for keyset pagination.
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// The environment (tenant).
        pub environment_id: String,
        /// Customer-chosen id, unique within the environment.
        pub user_id: String,
        /// Display name.
        pub name: String,
        /// Avatar URL.
        pub avatar_url: String,
        /// First seen, µs.
        pub create_time: i64,
        /// Last profile change, µs.
        pub update_time: i64,
    }
}

impl From<Model> for crate::domain::records::User {
    fn from(m: Model) -> Self {
        Self {
            user_id: m.user_id,
            environment_id: m.environment_id,
            name: m.name,
            avatar_url: m.avatar_url,
            create_time: m.create_time,
        }
    }
}
