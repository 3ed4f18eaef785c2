//! The data plane: `RoomService`, `ThreadService`, `UserService`. Every
//! handler takes the environment from the caller context only.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::Principal;
use crate::auth::context::{self, EnvCaller};
use crate::domain::content::{parse_body, parse_metadata};
use crate::domain::ids::{IdKind, parse_id};
use crate::domain::names::parse_resource_id;
use crate::error::{Error, Result};
use crate::pb::{
    self, room_service_server::RoomService, thread_service_server::ThreadService,
    user_service_server::UserService,
};
use crate::store::threads::Editor;
use crate::store::{rooms, threads, users};

/// Handlers of the data-plane services.
#[derive(Clone, Debug)]
pub struct DataApi {
    state: AppState,
}

impl DataApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The author of a write: the token's user, or `user_id` for a backend.
fn author(caller: &EnvCaller, requested: &str) -> Result<String> {
    match &caller.principal {
        Principal::User { user_id } => {
            if requested.is_empty() || requested == user_id {
                Ok(user_id.clone())
            } else {
                Err(Error::PermissionDenied(
                    "user_id must be the token's user".into(),
                ))
            }
        }
        Principal::Server => {
            if requested.is_empty() {
                return Err(Error::invalid("user_id", "is required with a secret key"));
            }
            parse_resource_id("user_id", requested)
        }
        Principal::Anonymous => Err(Error::Unauthenticated),
    }
}

/// Who may edit: a user only their own comments, a backend any.
fn editor(caller: &EnvCaller) -> Editor<'_> {
    match &caller.principal {
        Principal::User { user_id } => Editor::User(user_id),
        _ => Editor::Server,
    }
}

#[tonic::async_trait]
impl RoomService for DataApi {
    async fn create_room(
        &self,
        request: Request<pb::CreateRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let room_id = parse_resource_id("room_id", &req.room_id)?;
        let metadata = parse_metadata("metadata", &req.metadata)?;
        let room =
            rooms::create_room(&self.state.store, &caller.scope, &room_id, &metadata).await?;
        Ok(Response::new(convert::room(room)))
    }

    async fn get_room(
        &self,
        request: Request<pb::GetRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let caller = context::environment(&request)?;
        let room_id = parse_resource_id("room_id", &request.get_ref().room_id)?;
        let room = rooms::get_room(&self.state.store, &caller.scope, &room_id).await?;
        Ok(Response::new(convert::room(room)))
    }

    async fn list_rooms(
        &self,
        request: Request<pb::ListRoomsRequest>,
    ) -> Result<Response<pb::ListRoomsResponse>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let page = self.state.pages.parse(
            caller.scope.environment_id(),
            "rooms",
            req.page_size,
            &req.page_token,
        )?;
        let (rows, next_page_token) =
            rooms::list_rooms(&self.state.store, &caller.scope, &page).await?;
        Ok(Response::new(pb::ListRoomsResponse {
            rooms: rows.into_iter().map(convert::room).collect(),
            next_page_token,
        }))
    }

    async fn delete_room(
        &self,
        request: Request<pb::DeleteRoomRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = context::environment(&request)?;
        let room_id = parse_resource_id("room_id", &request.get_ref().room_id)?;
        rooms::delete_room(&self.state.store, &caller.scope, &room_id).await?;
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl ThreadService for DataApi {
    async fn create_thread(
        &self,
        request: Request<pb::CreateThreadRequest>,
    ) -> Result<Response<pb::Thread>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let room_id = parse_resource_id("room_id", &req.room_id)?;
        let body = parse_body("body", &req.body)?;
        let author = author(&caller, &req.user_id)?;
        let (thread, _) =
            threads::create_thread(&self.state.store, &caller.scope, &room_id, &author, &body)
                .await?;
        Ok(Response::new(convert::thread(thread)))
    }

    async fn list_threads(
        &self,
        request: Request<pb::ListThreadsRequest>,
    ) -> Result<Response<pb::ListThreadsResponse>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let room_id = parse_resource_id("room_id", &req.room_id)?;
        let page = self.state.pages.parse(
            caller.scope.environment_id(),
            &format!("threads/{room_id}"),
            req.page_size,
            &req.page_token,
        )?;
        let (rows, next_page_token) =
            threads::list_threads(&self.state.store, &caller.scope, Some(&room_id), &page).await?;
        Ok(Response::new(pb::ListThreadsResponse {
            threads: rows.into_iter().map(convert::thread).collect(),
            next_page_token,
        }))
    }

    async fn create_comment(
        &self,
        request: Request<pb::CreateCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let thread_id = parse_id(IdKind::Thread, "thread_id", &req.thread_id)?;
        let body = parse_body("body", &req.body)?;
        let author = author(&caller, &req.user_id)?;
        let comment =
            threads::create_comment(&self.state.store, &caller.scope, &thread_id, &author, &body)
                .await?;
        Ok(Response::new(convert::comment(comment)))
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let thread_id = parse_id(IdKind::Thread, "thread_id", &req.thread_id)?;
        let page = self.state.pages.parse(
            caller.scope.environment_id(),
            &format!("comments/{thread_id}"),
            req.page_size,
            &req.page_token,
        )?;
        let (rows, next_page_token) =
            threads::list_comments(&self.state.store, &caller.scope, &thread_id, &page).await?;
        Ok(Response::new(pb::ListCommentsResponse {
            comments: rows.into_iter().map(convert::comment).collect(),
            next_page_token,
        }))
    }

    async fn update_comment(
        &self,
        request: Request<pb::UpdateCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let id = parse_id(IdKind::Comment, "id", &req.id)?;
        let body = parse_body("body", &req.body)?;
        let comment = threads::update_comment(
            &self.state.store,
            &caller.scope,
            &id,
            &body,
            editor(&caller),
        )
        .await?;
        Ok(Response::new(convert::comment(comment)))
    }

    async fn delete_comment(
        &self,
        request: Request<pb::DeleteCommentRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = context::environment(&request)?;
        let id = parse_id(IdKind::Comment, "id", &request.get_ref().id)?;
        threads::delete_comment(&self.state.store, &caller.scope, &id, editor(&caller)).await?;
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl UserService for DataApi {
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let caller = context::environment(&request)?;
        let user_id = parse_resource_id("user_id", &request.get_ref().user_id)?;
        let user = users::get_user(&self.state.store, &caller.scope, &user_id).await?;
        Ok(Response::new(convert::user(user)))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let page = self.state.pages.parse(
            caller.scope.environment_id(),
            "users",
            req.page_size,
            &req.page_token,
        )?;
        let (rows, next_page_token) =
            users::list_users(&self.state.store, &caller.scope, &page).await?;
        Ok(Response::new(pb::ListUsersResponse {
            users: rows.into_iter().map(convert::user).collect(),
            next_page_token,
        }))
    }
}
