//! `sessions`: a member's signed-in sessions (`ses_…` credentials).

use sea_orm::entity::prelude::*;

table! {
    /// A row of `sessions`.
    "sessions", id, Debug {
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
}
