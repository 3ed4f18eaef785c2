//! `pulse.v1.UserService`: users of the caller's environment.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context;
use crate::domain::names::parse_resource_id;
use crate::pb::{self, user_service_server::UserService};

/// Handlers of `UserService`.
#[derive(Clone, Debug)]
pub struct UserApi {
    state: AppState,
}

impl UserApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let caller = context::environment(&request)?;
        let user_id = parse_resource_id("user_id", &request.get_ref().user_id)?;
        let user = caller.store(&self.state.store).user(&user_id).await?;
        Ok(Response::new(convert::user(user)))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let caller = context::environment(&request)?;
        let page = self
            .state
            .page(caller.tenant(), "users", request.get_ref())?;
        let (rows, next_page_token) = caller.store(&self.state.store).list_users(&page).await?;
        Ok(Response::new(pb::ListUsersResponse {
            users: rows.into_iter().map(convert::user).collect(),
            next_page_token,
        }))
    }
}
