//! `pulse.v1.AccountService`: the caller's account and its admin tokens.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::{AdminCaller, context};
use crate::domain::ids::AdminTokenId;
use crate::domain::names::parse_display_name;
use crate::domain::roles::{Grant, Role, parse_environments};
use crate::domain::time::{now_micros, parse_expire_time, to_timestamp};
use crate::pb::{self, account_service_server::AccountService};
use crate::store::accounts::TokenGrant;

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
        let req = request.get_ref();
        let name = parse_display_name("display_name", &req.display_name)?;
        let expire_time = req
            .expire_time
            .as_ref()
            .map(|t| parse_expire_time("expire_time", t, now_micros()))
            .transpose()?;
        let grant = granted(
            &self.state,
            &admin,
            req.role,
            &req.environment_ids,
            admin.grant.role,
        )
        .await?;
        let created = admin
            .store(&self.state.store)
            .create_admin_token(
                name.as_str(),
                &TokenGrant { grant, expire_time },
                &admin.actor,
            )
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

    async fn get_caller(
        &self,
        request: Request<pb::GetCallerRequest>,
    ) -> Result<Response<pb::GetCallerResponse>, Status> {
        // Answered from the caller context, without a query: the console
        // asks at every start, and what it shows was loaded with the
        // credential (re-read when the member's role, scope or second
        // factor changes).
        let admin = context::admin_ref(&request)?;
        let account = match &admin.account {
            Some(profile) => pb::Account {
                id: admin.scope.account_id().to_string(),
                display_name: profile.display_name.clone(),
                create_time: Some(to_timestamp(profile.create_time)),
            },
            None => convert::account(admin.store(&self.state.store).get().await?),
        };
        let member = admin
            .member
            .as_deref()
            .map(|m| convert::signed_in_member(m, &admin.grant));
        Ok(Response::new(pb::GetCallerResponse {
            account: Some(account),
            role: admin.grant.role.to_pb() as i32,
            environment_ids: admin.grant.environments.to_vec(),
            admin_token_id: match member {
                Some(_) => String::new(),
                None => admin.token_id.clone(),
            },
            member,
        }))
    }
}

/// What a caller asks to grant (a new admin token or member), checked: the
/// role (`default` when unspecified) at most the caller's, owner only from
/// an owner, the environments (the caller's own scope when empty) within
/// the caller's scope and existing (NOT_FOUND otherwise).
pub(super) async fn granted(
    state: &AppState,
    admin: &AdminCaller,
    role: i32,
    environment_ids: &[String],
    default: Role,
) -> crate::error::Result<Grant> {
    let role = Role::from_request("role", role)?.unwrap_or(default);
    let environments = parse_environments("environment_ids", environment_ids)?;
    let environments = if environments.is_all() {
        admin.grant.environments.clone()
    } else {
        environments
    };
    admin.grant.may_grant(role, &environments)?;
    admin
        .store(&state.store)
        .check_environments(&environments)
        .await?;
    Ok(Grant { role, environments })
}
