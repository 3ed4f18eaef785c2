//! `members`: people of an account who sign in to the admin plane.

use sea_orm::entity::prelude::*;

use crate::domain::records::MemberState;
use crate::domain::roles::{Environments, Grant, Role};

/// `state` of an invited member.
pub const STATE_INVITED: &str = "invited";
/// `state` of a member who accepted its invitation.
pub const STATE_ACTIVE: &str = "active";

table! {
    /// A row of `members`.
    "members", id {
        /// The member's account.
        pub account_id: String,
        /// Normalised email (trimmed, lowercase), unique on the server.
        #[sea_orm(unique)]
        pub email: String,
        /// Name given when accepting the invitation (empty until then).
        pub display_name: String,
        /// Role name (`owner`, `admin`, `developer`, `viewer`).
        pub role: String,
        /// Environment scope, comma-separated ids; `None`: the whole account.
        pub environment_ids: Option<String>,
        /// `invited` or `active`.
        pub state: String,
        /// argon2id PHC string; `None` until the invitation is accepted.
        pub password_hash: Option<String>,
        /// The TOTP secret, sealed with the master key; `None`: TOTP off.
        pub totp_secret: Option<Vec<u8>>,
        /// A secret being enrolled (sealed), until confirmed with a code.
        pub totp_pending: Option<Vec<u8>>,
        /// The last accepted TOTP time step: codes of it or earlier are refused.
        pub totp_last_step: Option<i64>,
        /// Hex SHA-256 of the invite token; `None` once accepted.
        #[sea_orm(unique)]
        pub invite_hash: Option<String>,
        /// When the invitation expires, µs.
        pub invite_expire_time: Option<i64>,
        /// Invitation time, µs.
        pub create_time: i64,
        /// Last change, µs.
        pub update_time: i64,
        /// Last successful sign-in, µs.
        pub last_sign_in_time: Option<i64>,
    }
}

/// The password hash and TOTP secrets are not secrets in the clear, but
/// they are what a leaked table would hold: never printed.
impl Model {
    /// The member's grant as stored.
    pub fn grant(&self) -> Grant {
        Grant {
            role: Role::from_stored(&self.role),
            environments: Environments::from_stored(self.environment_ids.as_deref()),
        }
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("role", &self.role)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl From<Model> for crate::domain::records::Member {
    fn from(m: Model) -> Self {
        Self {
            grant: m.grant(),
            state: if m.state == STATE_INVITED {
                MemberState::Invited
            } else {
                MemberState::Active
            },
            id: m.id,
            account_id: m.account_id,
            email: m.email,
            display_name: m.display_name,
            password_hash: m.password_hash,
            totp_secret: m.totp_secret,
            totp_pending: m.totp_pending,
            totp_last_step: m.totp_last_step,
            invite_expire_time: m.invite_expire_time,
            create_time: m.create_time,
            last_sign_in_time: m.last_sign_in_time,
        }
    }
}
