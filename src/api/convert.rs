//! Domain records → proto messages. The only place that knows both.

use crate::domain::credential::CredentialKind;
use crate::domain::records::{
    Account, AdminToken, ApiKey, AuditEvent, Comment, Environment, Member, MemberState, Room,
    Thread, User,
};
use crate::domain::roles::{Grant, MemberIdentity};
use crate::domain::time::to_timestamp;
use crate::error::{Error, Result};
use crate::pb;
// Rooms, threads and comments have no records yet (issue 24).
use crate::store::revocation::UserRevocation;

/// The proto kind of a credential kind (only API keys have one). With
/// [`parse_key_kind`], the one mapping between the two enums.
pub fn credential_kind(kind: CredentialKind) -> pb::ApiKeyKind {
    match kind {
        CredentialKind::Publishable => pb::ApiKeyKind::Publishable,
        CredentialKind::Secret => pb::ApiKeyKind::Secret,
        CredentialKind::Restricted => pb::ApiKeyKind::Restricted,
        CredentialKind::Admin | CredentialKind::Session | CredentialKind::Invite => {
            pb::ApiKeyKind::Unspecified
        }
    }
}

/// The API key kind a request asks for, or INVALID_ARGUMENT naming `field`.
pub fn parse_key_kind(field: &str, kind: i32) -> Result<CredentialKind> {
    match pb::ApiKeyKind::try_from(kind) {
        Ok(pb::ApiKeyKind::Publishable) => Ok(CredentialKind::Publishable),
        Ok(pb::ApiKeyKind::Secret) => Ok(CredentialKind::Secret),
        Ok(pb::ApiKeyKind::Restricted) => Ok(CredentialKind::Restricted),
        _ => Err(Error::invalid(
            field,
            "must be API_KEY_KIND_PUBLISHABLE, API_KEY_KIND_SECRET or API_KEY_KIND_RESTRICTED",
        )),
    }
}

/// An account.
pub fn account(m: Account) -> pb::Account {
    pb::Account {
        id: m.id,
        display_name: m.display_name,
        create_time: Some(to_timestamp(m.create_time)),
    }
}

/// An admin token's metadata.
pub fn admin_token(m: AdminToken) -> pb::AdminToken {
    pb::AdminToken {
        id: m.id,
        display_name: m.display_name,
        prefix: m.prefix,
        create_time: Some(to_timestamp(m.create_time)),
        revoke_time: m.revoke_time.map(to_timestamp),
        state: if m.revoke_time.is_some() {
            pb::AdminTokenState::Revoked
        } else {
            pb::AdminTokenState::Active
        } as i32,
        last_use_time: m.last_use_time.map(to_timestamp),
        role: m.grant.role.to_pb() as i32,
        environment_ids: m.grant.environments.to_vec(),
        expire_time: m.expire_time.map(to_timestamp),
    }
}

/// The member of a session, from what the session was loaded with (an
/// active member: only those sign in).
pub fn signed_in_member(m: &MemberIdentity, grant: &Grant) -> pb::Member {
    pb::Member {
        id: m.id.to_string(),
        email: m.email.clone(),
        display_name: m.display_name.clone(),
        role: grant.role.to_pb() as i32,
        environment_ids: grant.environments.to_vec(),
        state: pb::MemberState::Active as i32,
        create_time: Some(to_timestamp(m.create_time)),
        last_sign_in_time: m.last_sign_in_time.map(to_timestamp),
        totp_enabled: m.totp_enabled,
        invite_expire_time: None,
    }
}

/// A member.
pub fn member(m: Member) -> pb::Member {
    let invited = m.state == MemberState::Invited;
    pb::Member {
        id: m.id,
        email: m.email,
        display_name: m.display_name,
        role: m.grant.role.to_pb() as i32,
        environment_ids: m.grant.environments.to_vec(),
        state: if invited {
            pb::MemberState::Invited
        } else {
            pb::MemberState::Active
        } as i32,
        create_time: Some(to_timestamp(m.create_time)),
        last_sign_in_time: m.last_sign_in_time.map(to_timestamp),
        totp_enabled: m.totp_secret.is_some(),
        invite_expire_time: m.invite_expire_time.filter(|_| invited).map(to_timestamp),
    }
}

/// An environment.
pub fn environment(m: Environment) -> pb::Environment {
    pb::Environment {
        id: m.id,
        display_name: m.display_name,
        create_time: Some(to_timestamp(m.create_time)),
        update_time: Some(to_timestamp(m.update_time)),
    }
}

/// An API key's metadata. `value` is only ever set for publishable keys.
pub fn api_key(m: ApiKey) -> pb::ApiKey {
    let publishable = m.kind == CredentialKind::Publishable;
    let state = api_key_state(&m, crate::domain::time::now_micros()) as i32;
    pb::ApiKey {
        id: m.id,
        environment_id: m.environment_id,
        kind: credential_kind(m.kind) as i32,
        prefix: m.prefix,
        value: if publishable {
            m.value.unwrap_or_default()
        } else {
            String::new()
        },
        state,
        create_time: Some(to_timestamp(m.create_time)),
        revoke_time: m.revoke_time.map(to_timestamp),
        last_use_time: m.last_use_time.map(to_timestamp),
        expire_time: m.expire_time.map(to_timestamp),
        permissions: m
            .permissions
            .map(|p| p.names().map(str::to_owned).collect())
            .unwrap_or_default(),
        display_name: m.display_name.unwrap_or_default(),
        allowed_cidrs: m.networks.names(),
        success_count_24h: 0,
    }
}

/// A key's state at `now`. A revocation scheduled by a grace-period
/// rotation keeps the key active until its time; whichever of revocation
/// and expiry came first names the state of a key that stopped working.
fn api_key_state(m: &ApiKey, now: i64) -> pb::ApiKeyState {
    match (
        m.revoke_time.filter(|&t| t <= now),
        m.expire_time.filter(|&t| t <= now),
    ) {
        (Some(r), Some(e)) if e < r => pb::ApiKeyState::Expired,
        (Some(_), _) => pb::ApiKeyState::Revoked,
        (None, Some(_)) => pb::ApiKeyState::Expired,
        (None, None) => pb::ApiKeyState::Active,
    }
}

/// An audit event.
pub fn audit_event(m: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: m.id,
        r#type: m.event_type,
        actor: m.actor,
        environment_id: m.environment_id.unwrap_or_default(),
        target_id: m.target_id,
        request_id: m.request_id,
        peer: m.peer,
        create_time: Some(to_timestamp(m.create_time)),
        details: m
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default(),
    }
}

/// The end of a user's tokens.
pub fn user_token_revocation(r: UserRevocation) -> pb::UserTokenRevocation {
    pb::UserTokenRevocation {
        user_id: r.user_id,
        not_before: Some(to_timestamp(r.not_before)),
    }
}

/// A room.
pub fn room(m: Room) -> pb::Room {
    pb::Room {
        metadata: m.metadata.into_iter().collect(),
        id: m.room_id,
        create_time: Some(to_timestamp(m.create_time)),
        default_access: super::room::access_to_pb(m.default_access),
        ..Default::default()
    }
}

/// A thread.
pub fn thread(m: Thread) -> pb::Thread {
    pb::Thread {
        id: m.id,
        room_id: m.room_id,
        create_time: Some(to_timestamp(m.create_time)),
        comment_count: m.comment_count,
    }
}

/// A comment.
pub fn comment(m: Comment) -> pb::Comment {
    pb::Comment {
        id: m.id,
        thread_id: m.thread_id,
        user_id: m.user_id,
        body: m.body,
        create_time: Some(to_timestamp(m.create_time)),
        edit_time: m.edit_time.map(to_timestamp),
    }
}

/// A user.
pub fn user(m: User) -> pb::User {
    pb::User {
        id: m.user_id,
        name: m.name,
        avatar_url: m.avatar_url,
        create_time: Some(to_timestamp(m.create_time)),
    }
}
