//! `pulse.v1.MemberService`: the account's people, their roles and scopes.
//!
//! The auth layer has already checked the RPC's least role; what is
//! checked here is what the caller grants or touches (no escalation, see
//! `crate::domain::roles`).

use tonic::{Request, Response, Status};

use super::account::granted;
use super::{AppState, convert};
use crate::auth::context;
use crate::domain::ids::MemberId;
use crate::domain::roles::{Role, parse_email, parse_environments};
use crate::error::Error;
use crate::pb::{self, member_service_server::MemberService};

/// Handlers of `MemberService`.
#[derive(Clone, Debug)]
pub struct MemberApi {
    state: AppState,
}

impl MemberApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl MemberService for MemberApi {
    async fn invite_member(
        &self,
        request: Request<pb::InviteMemberRequest>,
    ) -> Result<Response<pb::InviteMemberResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let email = parse_email("email", &req.email)?;
        let grant = granted(
            &self.state,
            &admin,
            req.role,
            &req.environment_ids,
            Role::Viewer,
        )
        .await?;
        let invite = admin
            .store(&self.state.store)
            .invite_member(&email, &grant, &admin.actor)
            .await?;
        Ok(Response::new(pb::InviteMemberResponse {
            member: Some(convert::member(invite.member)),
            invite_token: invite.token.into_exposed(),
        }))
    }

    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let admin = context::admin(&request)?;
        let page = self
            .state
            .page(admin.tenant(), "members", request.get_ref())?;
        let (rows, next_page_token) = admin.store(&self.state.store).list_members(&page).await?;
        Ok(Response::new(pb::ListMembersResponse {
            members: rows.into_iter().map(convert::member).collect(),
            next_page_token,
        }))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let admin = context::admin(&request)?;
        let id = MemberId::parse("member_id", &request.get_ref().member_id)?;
        let member = admin.store(&self.state.store).member(&id).await?;
        Ok(Response::new(convert::member(member)))
    }

    async fn update_member(
        &self,
        request: Request<pb::UpdateMemberRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let id = MemberId::parse("member_id", &req.member_id)?;
        let paths = req
            .update_mask
            .as_ref()
            .map(|m| m.paths.as_slice())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::invalid(
                "update_mask.paths",
                "name what to change: role, environment_ids",
            )
            .into());
        }
        if let Some(bad) = paths
            .iter()
            .find(|p| !matches!(p.as_str(), "role" | "environment_ids"))
        {
            return Err(Error::invalid(
                "update_mask.paths",
                format!("unknown path {bad:?}; allowed: role, environment_ids"),
            )
            .into());
        }
        let has = |path: &str| paths.iter().any(|p| p == path);
        let role = match has("role") {
            true => Some(
                Role::from_request("role", req.role)?
                    .ok_or_else(|| Error::invalid("role", "must be specified"))?,
            ),
            false => None,
        };
        let environments = match has("environment_ids") {
            true => {
                let envs = parse_environments("environment_ids", &req.environment_ids)?;
                admin
                    .store(&self.state.store)
                    .check_environments(&envs)
                    .await?;
                Some(envs)
            }
            false => None,
        };
        let member = admin
            .store(&self.state.store)
            .update_member(&id, role, environments, &admin.grant, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(convert::member(member)))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<()>, Status> {
        let admin = context::admin(&request)?;
        let id = MemberId::parse("member_id", &request.get_ref().member_id)?;
        admin
            .store(&self.state.store)
            .remove_member(&id, &admin.grant, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(()))
    }
}
