//! `pulse.v1.RoomService`: rooms of the caller's environment.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context;
use crate::domain::content::parse_metadata;
use crate::domain::names::parse_resource_id;
use crate::domain::rooms::RoomAccess;
use crate::pb::{self, room_service_server::RoomService};

/// Handlers of `RoomService`.
#[derive(Clone, Debug)]
pub struct RoomApi {
    state: AppState,
}

impl RoomApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl RoomService for RoomApi {
    async fn create_room(
        &self,
        request: Request<pb::CreateRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let room_id = parse_resource_id("room_id", &req.room_id)?;
        let metadata = parse_metadata("metadata", &req.metadata)?;
        caller.require_room(room_id.as_str(), RoomAccess::Write)?;
        let room = caller
            .store(&self.state.store)
            .create_room(&room_id, &metadata)
            .await?;
        Ok(Response::new(convert::room(room)))
    }

    async fn get_room(
        &self,
        request: Request<pb::GetRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let caller = context::environment(&request)?;
        let room_id = parse_resource_id("room_id", &request.get_ref().room_id)?;
        caller.require_room(room_id.as_str(), RoomAccess::Read)?;
        let room = caller.store(&self.state.store).room(&room_id).await?;
        Ok(Response::new(convert::room(room)))
    }

    async fn list_rooms(
        &self,
        request: Request<pb::ListRoomsRequest>,
    ) -> Result<Response<pb::ListRoomsResponse>, Status> {
        let caller = context::environment(&request)?;
        let page = self
            .state
            .page(caller.tenant(), "rooms", request.get_ref())?;
        let store = caller.store(&self.state.store);
        let (rows, next_page_token) = match caller.room_policy() {
            None => store.list_rooms(&page).await?,
            // Only the rooms the token may read.
            Some(policy) => {
                let (exact, prefixes) = policy.patterns();
                store
                    .list_rooms_matching(&page, &exact, &prefixes, |room| {
                        policy.access(room).is_some()
                    })
                    .await?
            }
        };
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
        caller
            .store(&self.state.store)
            .delete_room(&room_id)
            .await?;
        Ok(Response::new(()))
    }
}
