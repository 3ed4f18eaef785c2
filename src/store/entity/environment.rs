//! `environments`: isolated workspaces of an account.

use sea_orm::entity::prelude::*;

table! {
    /// A row of `environments`.
    "environments", id, Debug {
        /// The owning account.
        pub account_id: String,
        /// Display name.
        pub display_name: String,
        /// Creation time, µs.
        pub create_time: i64,
        /// Last change, µs.
        pub update_time: i64,
        /// Number of rooms (kept with every write).
        pub room_count: i64,
        /// Number of threads.
        pub thread_count: i64,
        /// Number of users.
        pub user_count: i64,
        /// Number of comments.
        pub comment_count: i64,
    }
}

impl From<Model> for crate::domain::records::Environment {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            account_id: m.account_id,
            display_name: m.display_name,
            create_time: m.create_time,
            update_time: m.update_time,
        }
    }
}
