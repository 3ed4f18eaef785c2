//! The typed caller context the auth layer puts into request extensions.
//! Handlers take the tenant only from here, never from the request body.

use tonic::Request;

use crate::domain::audit::Actor;
use crate::domain::credential::CredentialKind;
use crate::domain::ids::{AccountId, EnvironmentId, KeyId};
use crate::domain::permissions::Permissions;
use std::sync::Arc;

use crate::domain::roles::{AccountProfile, Grant, MemberIdentity};
use crate::domain::rooms::{RoomAccess, RoomPolicy, UserRooms};
use crate::domain::scope::{AccountScope, EnvironmentScope};
use crate::error::{Error, Result};
use crate::store::{AccountStore, EnvironmentStore, Store};

use super::KeyIndex;

/// Who is calling, as resolved from the credential.
#[derive(Clone, Debug)]
pub enum Caller {
    /// An admin token: administers one account.
    Admin(AdminCaller),
    /// An environment credential.
    Environment(EnvCaller),
}

/// An admin credential's caller context: an admin token or a member's
/// session.
#[derive(Clone, Debug)]
pub struct AdminCaller {
    /// The account the credential is bound to, and the environments of it
    /// the credential may see.
    pub scope: AccountScope,
    /// The credential's id: the admin token's `adm_…` or the session's `sid_…`.
    pub token_id: String,
    /// The role and scope (already checked against the RPC's least role by
    /// the auth layer; handlers check what they grant against it).
    pub grant: Grant,
    /// The member, for a session.
    pub member: Option<Arc<MemberIdentity>>,
    /// The account's name and creation time (as loaded with the credential).
    pub account: Option<Arc<AccountProfile>>,
    /// Who the audit log says made a change: the token, with the request's
    /// id and peer address.
    pub actor: Actor,
}

/// An environment credential's caller context.
#[derive(Clone, Debug)]
pub struct EnvCaller {
    /// The environment (and its account).
    pub scope: EnvironmentScope,
    /// The key that authenticated: the secret key, or the publishable key
    /// presented with a user token.
    pub key_id: KeyId,
    /// That key's kind.
    pub kind: CredentialKind,
    /// On whose behalf the call is made.
    pub principal: Principal,
    /// A restricted key's permissions (already checked against the RPC by
    /// the auth layer); `None` for the other kinds.
    pub permissions: Option<Permissions>,
}

impl AdminCaller {
    /// The tenant page tokens are sealed to: the account id.
    pub fn tenant(&self) -> &str {
        self.scope.account_id().as_str()
    }

    /// The admin's account in the store.
    pub fn store<'a>(&'a self, store: &'a Store) -> AccountStore<'a> {
        store.account(&self.scope)
    }

    /// The scope of one of the admin's environments, for browsing its
    /// data; NOT_FOUND if the environment is not the account's. The only
    /// way an admin reaches environment data.
    pub async fn open_environment(
        &self,
        store: &Store,
        id: &EnvironmentId,
    ) -> Result<EnvironmentScope> {
        let env = self.store(store).environment(id).await?;
        Ok(EnvironmentScope::grant(
            AccountId::from_stored(env.account_id),
            EnvironmentId::from_stored(env.id),
        ))
    }
}

impl EnvCaller {
    /// The tenant page tokens are sealed to: the environment id.
    pub fn tenant(&self) -> &str {
        self.scope.environment_id().as_str()
    }

    /// The caller's environment in the store.
    pub fn store<'a>(&'a self, store: &'a Store) -> EnvironmentStore<'a> {
        store.environment(&self.scope)
    }

    /// The user token's room patterns, if the caller is a TOKEN-mode user
    /// whose token carries any.
    pub fn room_policy(&self) -> Option<&RoomPolicy> {
        match &self.principal {
            Principal::User {
                rooms: UserRooms::Patterns(rooms),
                ..
            } => Some(rooms),
            _ => None,
        }
    }

    /// Whether room access must be checked for this caller at all (a user
    /// with patterns or in STORED mode).
    pub fn checks_rooms(&self) -> bool {
        matches!(
            &self.principal,
            Principal::User {
                rooms: UserRooms::Patterns(_) | UserRooms::Stored(_),
                ..
            }
        )
    }

    /// PERMISSION_DENIED unless the caller may do `needed` in `room`: a
    /// backend key, a user whose token's patterns allow it, or a
    /// STORED-mode user whom the room's stored accesses (cached in
    /// `index`) allow. A room that does not exist allows a STORED-mode
    /// user nothing, so its absence is not revealed (AIP-211).
    pub async fn require_room(
        &self,
        index: &KeyIndex,
        room: &str,
        needed: RoomAccess,
    ) -> Result<()> {
        let allowed = match &self.principal {
            Principal::User {
                rooms: UserRooms::Patterns(policy),
                ..
            } => policy.allows(room, needed),
            Principal::User {
                user_id,
                rooms: UserRooms::Stored(groups),
            } => index
                .room_acl(&self.scope, room)
                .await?
                .is_some_and(|acl| acl.access(user_id, groups) >= needed),
            _ => true,
        };
        if allowed {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "the user token does not allow {} access to room {room:?}",
            needed.as_str()
        )))
    }
}

/// On whose behalf an environment call is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The customer's backend, with `sk_`.
    Server,
    /// An end user, with `pk_` and a user token.
    User {
        /// The token's subject (shared: cloned with every caller context).
        user_id: std::sync::Arc<str>,
        /// How the token's room access is decided.
        rooms: UserRooms,
    },
    /// A publishable key alone: identifies the environment, authenticates
    /// nobody; only public RPCs accept it.
    Anonymous,
}

/// The admin context of a request, or PERMISSION_DENIED. The auth layer
/// already enforces the policy; this is the handler's typed access to it.
pub fn admin<T>(request: &Request<T>) -> Result<AdminCaller> {
    admin_ref(request).cloned()
}

/// [`admin`], borrowed: for handlers that only read it (`GetCaller`, asked
/// at every console start).
pub fn admin_ref<T>(request: &Request<T>) -> Result<&AdminCaller> {
    match request.extensions().get::<Caller>() {
        Some(Caller::Admin(admin)) => Ok(admin),
        Some(_) => Err(Error::PermissionDenied(
            "this rpc requires an admin token".into(),
        )),
        None => Err(Error::Unauthenticated),
    }
}

/// The environment context of a request, or PERMISSION_DENIED.
pub fn environment<T>(request: &Request<T>) -> Result<EnvCaller> {
    match request.extensions().get::<Caller>() {
        Some(Caller::Environment(env)) => Ok(env.clone()),
        Some(_) => Err(Error::PermissionDenied(
            "this rpc requires an environment credential".into(),
        )),
        None => Err(Error::Unauthenticated),
    }
}
