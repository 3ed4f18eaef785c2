//! `pulse.v1.AccountService`: the caller's account and its admin tokens.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context;
use crate::domain::ids::AdminTokenId;
use crate::domain::names::parse_display_name;
use crate::pb::{self, account_service_server::AccountService};

/// Handlers of `AccountService`.
#[derive(Clone, Debug)]
pub struct AccountApi {
    state: AppState,
}

impl AccountApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AccountService for AccountApi {
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let admin = context::admin(&request)?;
        let account = admin.store(&self.state.store).get().await?;
        Ok(Response::new(convert::account(account)))
    }

    async fn create_admin_token(
        &self,
        request: Request<pb::CreateAdminTokenRequest>,
    ) -> Result<Response<pb::CreateAdminTokenResponse>, Status> {
        let admin = context::admin(&request)?;
        let name = parse_display_name("display_name", &request.get_ref().display_name)?;
        let created = admin
            .store(&self.state.store)
            .create_admin_token(name.as_str(), &admin.actor)
            .await?;
        Ok(Response::new(pb::CreateAdminTokenResponse {
            admin_token: Some(convert::admin_token(created.admin_token)),
            token: created.token.into_exposed(),
        }))
    }

    async fn list_admin_tokens(
        &self,
        request: Request<pb::ListAdminTokensRequest>,
    ) -> Result<Response<pb::ListAdminTokensResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let page = self.state.page(admin.tenant(), "admin_tokens", req)?;
        let (rows, next_page_token) = admin
            .store(&self.state.store)
            .list_admin_tokens(&page)
            .await?;
        Ok(Response::new(pb::ListAdminTokensResponse {
            admin_tokens: rows.into_iter().map(convert::admin_token).collect(),
            next_page_token,
        }))
    }

    async fn revoke_admin_token(
        &self,
        request: Request<pb::RevokeAdminTokenRequest>,
    ) -> Result<Response<pb::AdminToken>, Status> {
        let admin = context::admin(&request)?;
        let id = AdminTokenId::parse("id", &request.get_ref().id)?;
        let token = admin
            .store(&self.state.store)
            .revoke_admin_token(&id, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(convert::admin_token(token)))
    }
}
