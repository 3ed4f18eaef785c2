//! `api_keys`: publishable, secret and restricted keys of environments.

use sea_orm::entity::prelude::*;

use crate::domain::networks::Networks;
use crate::domain::permissions::Permissions;

use crate::domain::credential::CredentialKind;

table! {
    /// A row of `api_keys`.
    "api_keys", id, Debug {
        /// The environment the key opens. Resolution reads it from here, never
        /// from the key's text.
        pub environment_id: String,
        /// The environment's account, denormalised so admin queries scope by
        /// account without a join.
        pub account_id: String,
        /// `publishable`, `secret` or `restricted`.
        pub kind: CredentialKind,
        /// First 12 characters of the key.
        pub prefix: String,
        /// Hex SHA-256 of the whole key.
        #[sea_orm(unique)]
        pub key_hash: String,
        /// The whole key, for publishable keys only (they are public).
        pub value: Option<String>,
        /// Creation time, µs.
        pub create_time: i64,
        /// Revocation time, µs; `None` while active.
        pub revoke_time: Option<i64>,
        /// Last authenticated use, µs (approximate).
        pub last_use_time: Option<i64>,
        /// When the key stops working by itself, µs; `None`: never.
        pub expire_time: Option<i64>,
        /// Restricted keys: comma-separated permissions (see
        /// [`crate::domain::permissions::Permissions`]); `None` for the others.
        pub permissions: Option<String>,
        /// A name to recognise the key by.
        pub display_name: Option<String>,
        /// Comma-separated CIDRs the key may be used from; `None`: anywhere.
        pub allowed_cidrs: Option<String>,
        /// `key.expiring` events sent: 0, 1 (7 days before), 2 (1 day before).
        pub expiry_notices: i32,
    }
}

impl Model {
    /// When the key stops (or stopped) working: the earlier of its
    /// revocation and its expiry.
    pub fn end_time(&self) -> Option<i64> {
        crate::domain::time::earliest(self.revoke_time, self.expire_time)
    }
}

impl From<Model> for crate::domain::records::ApiKey {
    fn from(m: Model) -> Self {
        Self {
            permissions: m.permissions.as_deref().map(Permissions::from_stored),
            networks: Networks::from_stored(m.allowed_cidrs.as_deref()),
            id: m.id,
            environment_id: m.environment_id,
            account_id: m.account_id,
            kind: m.kind,
            prefix: m.prefix,
            value: m.value,
            create_time: m.create_time,
            revoke_time: m.revoke_time,
            last_use_time: m.last_use_time,
            expire_time: m.expire_time,
            display_name: m.display_name,
        }
    }
}
