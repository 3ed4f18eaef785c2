//! `user_token_revocations`: per user, the instant before which its user
//! tokens are refused (`RevokeUserTokens`).

use sea_orm::entity::prelude::*;

table! {
    /// A row of `user_token_revocations`.
    "user_token_revocations", Debug {
        /// The environment (tenant).
        #[sea_orm(primary_key, auto_increment = false)]
        pub environment_id: String,
        /// The user.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// The environment's account.
        pub account_id: String,
        /// Tokens issued before this instant (µs since the epoch) are refused.
        pub not_before: i64,
    }
}
