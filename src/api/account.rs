//! `pulse.v1.AccountService`: the caller's account and its admin tokens.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context;
use crate::domain::ids::{IdKind, parse_id};
use crate::domain::names::parse_display_name;
use crate::pb::{self, account_service_server::AccountService};
use crate::store::accounts;

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
        let account = accounts::get_account(&self.state.store, &admin.scope).await?;
        Ok(Response::new(convert::account(account)))
    }

    async fn create_admin_token(
        &self,
        request: Request<pb::CreateAdminTokenRequest>,
    ) -> Result<Response<pb::CreateAdminTokenResponse>, Status> {
        let admin = context::admin(&request)?;
        let name = parse_display_name("display_name", &request.get_ref().display_name)?;
        let created =
            accounts::create_admin_token(&self.state.store, &admin.scope, &name, &admin.actor)
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
        let page = self.state.pages.parse(
            admin.scope.account_id(),
            "admin_tokens",
            req.page_size,
            &req.page_token,
        )?;
        let (rows, next_page_token) =
            accounts::list_admin_tokens(&self.state.store, &admin.scope, &page).await?;
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
        let id = parse_id(IdKind::AdminToken, "id", &request.get_ref().id)?;
        let revision = self.state.cluster.next_revision();
        let (token, _) = accounts::revoke_admin_token(
            &self.state.store,
            &admin.scope,
            &id,
            &admin.actor,
            self.state.notice(&revision),
        )
        .await?;
        // Committed: from now on this process rejects the token.
        self.state
            .killed(
                &revision,
                vec![(token.id.clone(), token.token_hash.clone())],
            )
            .await;
        Ok(Response::new(convert::admin_token(token)))
    }
}
