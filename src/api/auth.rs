//! `pulse.v1.AuthService`: describes and mints environment credentials.

use tonic::{Request, Response, Status};

use super::AppState;
use crate::auth::credential::CredentialKind;
use crate::auth::{Principal, context};
use crate::pb::{self, auth_service_server::AuthService};

/// Handlers of `AuthService`.
#[derive(Clone, Debug)]
pub struct AuthApi {
    #[allow(dead_code)]
    state: AppState,
}

impl AuthApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The proto kind of a credential kind.
pub fn key_kind(kind: CredentialKind) -> pb::ApiKeyKind {
    match kind {
        CredentialKind::Publishable => pb::ApiKeyKind::Publishable,
        CredentialKind::Secret => pb::ApiKeyKind::Secret,
        CredentialKind::Admin => pb::ApiKeyKind::Unspecified,
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn mint_user_token(
        &self,
        _request: Request<pb::MintUserTokenRequest>,
    ) -> Result<Response<pb::MintUserTokenResponse>, Status> {
        Err(Status::unimplemented(
            "user tokens arrive with the data plane",
        ))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = context::environment(&request)?;
        let user_id = match caller.principal {
            Principal::User { user_id } => user_id,
            Principal::Server | Principal::Anonymous => String::new(),
        };
        Ok(Response::new(pb::WhoAmIResponse {
            environment_id: caller.scope.environment_id().to_owned(),
            key_id: caller.key_id,
            kind: key_kind(caller.kind) as i32,
            user_id,
        }))
    }

    async fn list_signing_keys(
        &self,
        _request: Request<pb::ListSigningKeysRequest>,
    ) -> Result<Response<pb::ListSigningKeysResponse>, Status> {
        Err(Status::unimplemented(
            "user tokens arrive with the data plane",
        ))
    }
}
