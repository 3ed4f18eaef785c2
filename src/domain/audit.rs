//! Audit-log vocabulary: who acted ([`Actor`]) and what happened
//! ([`EventType`]). Events are written in the same transaction as the change
//! they describe, so the log never claims a change that rolled back, nor
//! misses one that committed.

use crate::error::Error;

/// Who made a change, and through which request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// `adm_…` for admin-token calls, the key id for secret- or
    /// restricted-key calls; `cli` or `bootstrap` for local commands.
    pub actor: String,
    /// The request's `x-request-id` (or one generated for it).
    pub request_id: String,
    /// The caller's `ip:port`, or `local`.
    pub peer: String,
    /// A member's email (`details.actor_email`), when `actor` is `mem_…`.
    pub email: Option<String>,
}

impl Actor {
    /// A change made by a local command (`pulse account create`, first start).
    pub fn local(actor: &str) -> Self {
        Self {
            actor: actor.to_owned(),
            request_id: crate::domain::ids::new_request_id(),
            peer: "local".to_owned(),
            email: None,
        }
    }
}

/// Every kind of audited event. The string forms are the API's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// An account was created (`pulse account create`, first start).
    AccountCreated,
    /// An admin token was created.
    AdminTokenCreated,
    /// An admin token was revoked.
    AdminTokenRevoked,
    /// An environment was created.
    EnvironmentCreated,
    /// An environment was renamed.
    EnvironmentRenamed,
    /// An environment was deleted with its keys and data.
    EnvironmentDeleted,
    /// An API key was created (with an environment, by a rotation, or by `CreateKey`).
    KeyCreated,
    /// An environment's keys were rotated.
    KeysRotated,
    /// An API key was revoked (by `RevokeKey` or a rotation; possibly
    /// scheduled for later by a grace period).
    KeyRevoked,
    /// A user-token signing key was created.
    SigningKeyCreated,
    /// A new signing key was added (standby) to replace the active one.
    SigningKeyRotated,
    /// A signing key was revoked with every token it signed.
    SigningKeyRevoked,
    /// An API key expires soon (sent once 7 days before, once 1 day before).
    KeyExpiring,
    /// A user's tokens issued before an instant were revoked.
    UserTokensRevoked,
    /// A person was invited to the account.
    MemberInvited,
    /// An invited person accepted and became an active member.
    MemberJoined,
    /// A member's role or environment scope changed.
    MemberUpdated,
    /// A member was removed (or an invitation withdrawn).
    MemberRemoved,
    /// A member turned TOTP on.
    MemberTotpEnabled,
    /// A member changed its password.
    MemberPasswordChanged,
}

impl EventType {
    /// Every type, for validation and documentation.
    pub const ALL: [EventType; 20] = [
        EventType::AccountCreated,
        EventType::AdminTokenCreated,
        EventType::AdminTokenRevoked,
        EventType::EnvironmentCreated,
        EventType::EnvironmentRenamed,
        EventType::EnvironmentDeleted,
        EventType::KeyCreated,
        EventType::KeysRotated,
        EventType::KeyRevoked,
        EventType::SigningKeyCreated,
        EventType::SigningKeyRotated,
        EventType::SigningKeyRevoked,
        EventType::KeyExpiring,
        EventType::UserTokensRevoked,
        EventType::MemberInvited,
        EventType::MemberJoined,
        EventType::MemberUpdated,
        EventType::MemberRemoved,
        EventType::MemberTotpEnabled,
        EventType::MemberPasswordChanged,
    ];

    /// The type's name, e.g. `key.revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccountCreated => "account.created",
            EventType::AdminTokenCreated => "admin_token.created",
            EventType::AdminTokenRevoked => "admin_token.revoked",
            EventType::EnvironmentCreated => "environment.created",
            EventType::EnvironmentRenamed => "environment.renamed",
            EventType::EnvironmentDeleted => "environment.deleted",
            EventType::KeyCreated => "key.created",
            EventType::KeysRotated => "keys.rotated",
            EventType::KeyRevoked => "key.revoked",
            EventType::SigningKeyCreated => "signing_key.created",
            EventType::SigningKeyRotated => "signing_key.rotated",
            EventType::SigningKeyRevoked => "signing_key.revoked",
            EventType::KeyExpiring => "key.expiring",
            EventType::UserTokensRevoked => "user_tokens.revoked",
            EventType::MemberInvited => "member.invited",
            EventType::MemberJoined => "member.joined",
            EventType::MemberUpdated => "member.updated",
            EventType::MemberRemoved => "member.removed",
            EventType::MemberTotpEnabled => "member.totp_enabled",
            EventType::MemberPasswordChanged => "member.password_changed",
        }
    }

    /// Parses a type filter; INVALID_ARGUMENT lists the valid names.
    pub fn parse(field: &str, value: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                Error::invalid(field, format!("must be one of {}", names.join(", ")))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse("type", t.as_str()).unwrap(), t);
        }
        assert!(EventType::parse("type", "key.deleted").is_err());
        assert!(EventType::parse("type", "").is_err());
    }
}
