//! The typed caller context the auth layer puts into request extensions.
//! Handlers take the tenant only from here, never from the request body.

use tonic::Request;

use super::credential::CredentialKind;
use crate::domain::audit::Actor;
use crate::domain::scope::{AccountScope, EnvironmentScope};
use crate::error::{Error, Result};

/// Who is calling, as resolved from the credential.
#[derive(Clone, Debug)]
pub enum Caller {
    /// An admin token: administers one account.
    Admin(AdminCaller),
    /// An environment credential.
    Environment(EnvCaller),
}

/// An admin token's caller context.
#[derive(Clone, Debug)]
pub struct AdminCaller {
    /// The account the token is bound to.
    pub scope: AccountScope,
    /// The admin token's id, `adm_…`.
    pub token_id: String,
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
    pub key_id: String,
    /// That key's kind.
    pub kind: CredentialKind,
    /// On whose behalf the call is made.
    pub principal: Principal,
}

/// On whose behalf an environment call is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The customer's backend, with `sk_`.
    Server,
    /// An end user, with `pk_` and a user token.
    User {
        /// The token's subject.
        user_id: String,
    },
    /// A publishable key alone: identifies the environment, authenticates
    /// nobody; only public RPCs accept it.
    Anonymous,
}

/// The admin context of a request, or PERMISSION_DENIED. The auth layer
/// already enforces the policy; this is the handler's typed access to it.
pub fn admin<T>(request: &Request<T>) -> Result<AdminCaller> {
    match request.extensions().get::<Caller>() {
        Some(Caller::Admin(admin)) => Ok(admin.clone()),
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
