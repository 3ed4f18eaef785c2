//! What the store hands up: stored rows as plain values. The sea-orm
//! models stay inside `store/`, which converts each row into one of these
//! (`From<entity::…::Model>` there); `api` and `auth` see only these.
//! Stored encodings (comma lists, role names, states) are parsed on the way
//! up, so a record holds typed values. Times are µs since the epoch; ids
//! are the stored strings.
//!
//! Rooms, threads and comments still travel as models (issue 24 changes
//! them next).

use crate::domain::credential::CredentialKind;
use crate::domain::networks::Networks;
use crate::domain::permissions::Permissions;
use crate::domain::roles::Grant;

/// An account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// `acct_…`.
    pub id: String,
    /// Its name.
    pub display_name: String,
    /// Creation time.
    pub create_time: i64,
}

/// An admin token's metadata (never its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminToken {
    /// `tok_…`.
    pub id: String,
    /// A name to recognise it by.
    pub display_name: String,
    /// The first characters of the token.
    pub prefix: String,
    /// Creation time.
    pub create_time: i64,
    /// Revocation time; `None` while active.
    pub revoke_time: Option<i64>,
    /// Last authenticated use (approximate).
    pub last_use_time: Option<i64>,
    /// What it may do, and where.
    pub grant: Grant,
    /// When it stops working by itself; `None`: never.
    pub expire_time: Option<i64>,
}

/// An environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// `env_…`.
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// Its name.
    pub display_name: String,
    /// Creation time.
    pub create_time: i64,
    /// Last change.
    pub update_time: i64,
}

/// An API key's metadata (never its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// `key_…`.
    pub id: String,
    /// The environment it opens.
    pub environment_id: String,
    /// The environment's account.
    pub account_id: String,
    /// Publishable, secret or restricted.
    pub kind: CredentialKind,
    /// The first characters of the key.
    pub prefix: String,
    /// The whole key, for publishable keys only (they are public).
    pub value: Option<String>,
    /// Creation time.
    pub create_time: i64,
    /// Revocation time (possibly in the future: a grace period); `None`
    /// while active.
    pub revoke_time: Option<i64>,
    /// Last authenticated use (approximate).
    pub last_use_time: Option<i64>,
    /// When it stops working by itself; `None`: never.
    pub expire_time: Option<i64>,
    /// Restricted keys' permissions; `None` for the others.
    pub permissions: Option<Permissions>,
    /// A name to recognise it by.
    pub display_name: Option<String>,
    /// Where it may be used from; empty: anywhere.
    pub networks: Networks,
}

/// Whether a member accepted its invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// Invited, not yet signed up.
    Invited,
    /// Signed up: may sign in.
    Active,
}

/// A member of an account's team. Its `Debug` leaves out the password
/// hash and the sealed TOTP secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Member {
    /// `mem_…`.
    pub id: String,
    /// Its account.
    pub account_id: String,
    /// Sign-in name.
    pub email: String,
    /// Its name.
    pub display_name: String,
    /// Role and environments.
    pub grant: Grant,
    /// Invited or active.
    pub state: MemberState,
    /// PHC string of the password; `None` until it signs up.
    pub password_hash: Option<String>,
    /// Sealed TOTP secret, once confirmed.
    pub totp_secret: Option<Vec<u8>>,
    /// Sealed TOTP secret awaiting confirmation.
    pub totp_pending: Option<Vec<u8>>,
    /// Last TOTP step accepted (no replay).
    pub totp_last_step: Option<i64>,
    /// When its invitation expires.
    pub invite_expire_time: Option<i64>,
    /// Creation time.
    pub create_time: i64,
    /// Last successful sign-in.
    pub last_sign_in_time: Option<i64>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("grant", &self.grant)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// An audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the log (the live feed resumes after it).
    pub seq: i64,
    /// `evt_…`.
    pub id: String,
    /// Its account.
    pub account_id: String,
    /// Its environment, for environment events.
    pub environment_id: Option<String>,
    /// `key.created`, …
    pub event_type: String,
    /// Who did it.
    pub actor: String,
    /// What it was done to.
    pub target_id: String,
    /// The request that did it.
    pub request_id: String,
    /// Where the request came from.
    pub peer: String,
    /// When.
    pub create_time: i64,
    /// JSON object of details.
    pub details: Option<String>,
}

/// A user-token signing key of an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// Insertion order: of two keys activated at once, the later signs.
    pub seq: i64,
    /// `kid`.
    pub id: String,
    /// Its environment.
    pub environment_id: String,
    /// Raw Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Sealed PKCS#8 private key.
    pub sealed_private_key: Vec<u8>,
    /// Creation time.
    pub create_time: i64,
    /// When it starts signing.
    pub activate_time: i64,
    /// Revocation time; `None` while not revoked.
    pub revoke_time: Option<i64>,
}

/// An end user of an environment, as last upserted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The customer's id for the user.
    pub user_id: String,
    /// Its environment.
    pub environment_id: String,
    /// Display name.
    pub name: String,
    /// Avatar address.
    pub avatar_url: String,
    /// First seen.
    pub create_time: i64,
}

/// A collaboration room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    /// Insertion order: what room lists are paged by and stored entries
    /// point at.
    pub seq: i64,
    /// The customer's id for the room.
    pub room_id: String,
    /// Its environment.
    pub environment_id: String,
    /// Free-form metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Created at, µs.
    pub create_time: i64,
    /// What every STORED-mode user may do.
    pub default_access: crate::domain::rooms::RoomAccess,
}

/// A thread of comments in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    /// `thr_…`
    pub id: String,
    /// Its environment.
    pub environment_id: String,
    /// Its room.
    pub room_id: String,
    /// Comments in it.
    pub comment_count: i64,
    /// Created at, µs.
    pub create_time: i64,
}

/// A comment in a thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// `cmt_…`
    pub id: String,
    /// Its environment.
    pub environment_id: String,
    /// Its thread.
    pub thread_id: String,
    /// Its author.
    pub user_id: String,
    /// The text.
    pub body: String,
    /// Created at, µs.
    pub create_time: i64,
    /// Last edited at, µs.
    pub edit_time: Option<i64>,
}
