//! `admin_tokens`: `ak_…` credentials, each bound to one account.

use sea_orm::entity::prelude::*;

use crate::domain::roles::{Environments, Grant, Role};

table! {
    /// A row of `admin_tokens`.
    "admin_tokens", id, Debug {
        /// The account the token administers.
        pub account_id: String,
        /// Label.
        pub display_name: String,
        /// First 12 characters of the token.
        pub prefix: String,
        /// Hex SHA-256 of the whole token (the token itself is never stored).
        #[sea_orm(unique)]
        pub token_hash: String,
        /// Creation time, µs.
        pub create_time: i64,
        /// Revocation time, µs; `None` while active.
        pub revoke_time: Option<i64>,
        /// Last authenticated use, µs (approximate).
        pub last_use_time: Option<i64>,
        /// Role name (`owner`, `admin`, `developer`, `viewer`).
        pub role: String,
        /// Environment scope, comma-separated ids; `None`: the whole account.
        pub environment_ids: Option<String>,
        /// When the token expires, µs; `None`: never.
        pub expire_time: Option<i64>,
    }
}

impl From<Model> for crate::domain::records::AdminToken {
    fn from(m: Model) -> Self {
        Self {
            grant: Grant {
                role: Role::from_stored(&m.role),
                environments: Environments::from_stored(m.environment_ids.as_deref()),
            },
            id: m.id,
            display_name: m.display_name,
            prefix: m.prefix,
            create_time: m.create_time,
            revoke_time: m.revoke_time,
            last_use_time: m.last_use_time,
            expire_time: m.expire_time,
        }
    }
}
