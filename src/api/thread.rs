//! `pulse.v1.ThreadService`: threads and comments of the caller's
//! environment. A user token writes as its user and edits only its own
//! comments, in the rooms its room permissions allow; a backend names the
//! author.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::Principal;
use crate::auth::context::{self, EnvCaller};
use crate::domain::content::parse_body;
use crate::domain::ids::{CommentId, ThreadId};
use crate::domain::names::{ResourceId, parse_resource_id};
use crate::domain::rooms::RoomAccess;
use crate::error::{Error, Result};
use crate::pb::{self, thread_service_server::ThreadService};
use crate::store::threads::Editor;

/// Handlers of `ThreadService`.
#[derive(Clone, Debug)]
pub struct ThreadApi {
    state: AppState,
}

impl ThreadApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// For a user whose token names rooms or who is in STORED mode: PERMISSION_DENIED unless it
    /// allows `needed` in the room of a thread or comment (NOT_FOUND if
    /// there is no such thing). Looks nothing up for other callers.
    async fn require_room_of(
        &self,
        caller: &EnvCaller,
        of: RoomOf<'_>,
        needed: RoomAccess,
    ) -> Result<()> {
        if !caller.checks_rooms() {
            return Ok(());
        }
        let store = caller.store(&self.state.store);
        let room = match of {
            RoomOf::Thread(id) => store.room_of_thread(id).await?,
            RoomOf::Comment(id) => store.room_of_comment(id).await?,
        };
        caller.require_room(&self.state.index, &room, needed).await
    }
}

/// What a room check is about.
enum RoomOf<'a> {
    Thread(&'a ThreadId),
    Comment(&'a CommentId),
}

/// The author of a write: the token's user, or `user_id` for a backend.
fn author(caller: &EnvCaller, requested: &str) -> Result<ResourceId> {
    match &caller.principal {
        Principal::User { user_id, .. } => {
            if requested.is_empty() || requested == &**user_id {
                parse_resource_id("user_id", user_id)
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
fn editor(caller: &EnvCaller) -> Result<Option<ResourceId>> {
    match &caller.principal {
        Principal::User { user_id, .. } => Ok(Some(parse_resource_id("user_id", user_id)?)),
        _ => Ok(None),
    }
}

#[tonic::async_trait]
impl ThreadService for ThreadApi {
    async fn create_thread(
        &self,
        request: Request<pb::CreateThreadRequest>,
    ) -> Result<Response<pb::Thread>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let room_id = parse_resource_id("room_id", &req.room_id)?;
        let body = parse_body("body", &req.body)?;
        let author = author(&caller, &req.user_id)?;
        caller
            .require_room(&self.state.index, room_id.as_str(), RoomAccess::Write)
            .await?;
        let (thread, _) = caller
            .store(&self.state.store)
            .create_thread(&room_id, &author, &body)
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
        caller
            .require_room(&self.state.index, room_id.as_str(), RoomAccess::Read)
            .await?;
        let list = format!("threads/{room_id}");
        let page = self.state.page(caller.tenant(), &list, req)?;
        let (rows, next_page_token) = caller
            .store(&self.state.store)
            .list_threads(Some(&room_id), &page)
            .await?;
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
        let thread_id = ThreadId::parse("thread_id", &req.thread_id)?;
        let body = parse_body("body", &req.body)?;
        let author = author(&caller, &req.user_id)?;
        self.require_room_of(&caller, RoomOf::Thread(&thread_id), RoomAccess::Write)
            .await?;
        let comment = caller
            .store(&self.state.store)
            .create_comment(&thread_id, &author, &body)
            .await?;
        Ok(Response::new(convert::comment(comment)))
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let thread_id = ThreadId::parse("thread_id", &req.thread_id)?;
        self.require_room_of(&caller, RoomOf::Thread(&thread_id), RoomAccess::Read)
            .await?;
        let list = format!("comments/{thread_id}");
        let page = self.state.page(caller.tenant(), &list, req)?;
        let (rows, next_page_token) = caller
            .store(&self.state.store)
            .list_comments(&thread_id, &page)
            .await?;
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
        let id = CommentId::parse("id", &req.id)?;
        let body = parse_body("body", &req.body)?;
        let user = editor(&caller)?;
        self.require_room_of(&caller, RoomOf::Comment(&id), RoomAccess::Write)
            .await?;
        let editor = user.as_ref().map_or(Editor::Server, Editor::User);
        let comment = caller
            .store(&self.state.store)
            .update_comment(&id, &body, editor)
            .await?;
        Ok(Response::new(convert::comment(comment)))
    }

    async fn delete_comment(
        &self,
        request: Request<pb::DeleteCommentRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = context::environment(&request)?;
        let id = CommentId::parse("id", &request.get_ref().id)?;
        let user = editor(&caller)?;
        self.require_room_of(&caller, RoomOf::Comment(&id), RoomAccess::Write)
            .await?;
        let editor = user.as_ref().map_or(Editor::Server, Editor::User);
        caller
            .store(&self.state.store)
            .delete_comment(&id, editor)
            .await?;
        Ok(Response::new(()))
    }
}
