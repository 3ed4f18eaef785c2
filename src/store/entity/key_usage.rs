//! `key_usage`: per key and hour, how often it authenticated, failed (by
//! reason) and minted tokens, summed over replicas.

use sea_orm::entity::prelude::*;

table! {
    /// A row of `key_usage`. Replicas add to the counters; rows are never
    /// otherwise changed, and go with their environment.
    "key_usage", Debug {
        /// The key, `key_…`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_id: String,
        /// Start of the hour (UTC), µs.
        #[sea_orm(primary_key, auto_increment = false)]
        pub bucket_start: i64,
        /// The key's environment.
        pub environment_id: String,
        /// Calls the key authenticated.
        pub success_count: i64,
        /// Refused: revoked.
        pub revoked_count: i64,
        /// Refused: expired.
        pub expired_count: i64,
        /// Refused: outside the key's networks.
        pub not_allowed_network_count: i64,
        /// Refused: a restricted key without the permission.
        pub permission_denied_count: i64,
        /// User tokens minted.
        pub minted_token_count: i64,
    }
}
