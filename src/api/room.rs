//! `pulse.v1.RoomService`: rooms of the caller's environment, with the
//! accesses they store for STORED-mode user tokens.

use std::collections::HashMap;

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context::{self, EnvCaller, Principal};
use crate::domain::content::parse_metadata;
use crate::domain::names::parse_resource_id;
use crate::domain::records::Room;
use crate::domain::rooms::{
    MAX_GROUPS, MAX_ROOM_ENTRIES, RoomAccess, RoomAcl, Subject, UserRooms, check_subject_ids,
};
use crate::error::{Error, Result};
use crate::pb::{self, room_service_server::RoomService};
use crate::store::rooms::AccessUpdate;

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

/// The proto value of an access.
pub(super) fn access_to_pb(access: RoomAccess) -> i32 {
    match access {
        RoomAccess::None => pb::RoomAccess::None,
        RoomAccess::Read => pb::RoomAccess::Read,
        RoomAccess::Write => pb::RoomAccess::Write,
    }
    .into()
}

/// A request's access; `None` for UNSPECIFIED (the caller decides what
/// that means), INVALID_ARGUMENT for an unknown value.
fn access_from_pb(field: &str, value: i32) -> Result<Option<RoomAccess>> {
    match pb::RoomAccess::try_from(value) {
        Ok(pb::RoomAccess::Unspecified) => Ok(None),
        Ok(pb::RoomAccess::None) => Ok(Some(RoomAccess::None)),
        Ok(pb::RoomAccess::Read) => Ok(Some(RoomAccess::Read)),
        Ok(pb::RoomAccess::Write) => Ok(Some(RoomAccess::Write)),
        Err(_) => Err(Error::invalid(field, "is not a RoomAccess")),
    }
}

/// A request's entries (id → access): ids with the user-id charset,
/// accesses NONE, READ or WRITE.
fn entries(field: &str, map: &HashMap<String, i32>) -> Result<HashMap<Box<str>, RoomAccess>> {
    check_subject_ids(field, map.keys())?;
    map.iter()
        .map(|(id, value)| match access_from_pb(field, *value)? {
            Some(access) => Ok((id.as_str().into(), access)),
            None => Err(Error::invalid(
                field,
                format!("{id:?} must map to ROOM_ACCESS_NONE, _READ or _WRITE"),
            )),
        })
        .collect()
}

/// Whose entries a room shows: `None` shows every entry (backends,
/// admins); a user sees the default and the entries that apply to them
/// (their own and their groups'), never who else may enter.
type Viewer<'a> = Option<(&'a str, &'a [Box<str>])>;

/// The viewer a caller is.
fn viewer(caller: &EnvCaller) -> Viewer<'_> {
    match &caller.principal {
        Principal::User { user_id, rooms } => {
            let groups: &[Box<str>] = match rooms {
                UserRooms::Stored(groups) => groups,
                _ => &[],
            };
            Some((user_id, groups))
        }
        _ => None,
    }
}

/// A room and the entries of `acl` that `viewer` may see.
fn room_pb(room: Room, acl: &RoomAcl, viewer: Viewer<'_>) -> pb::Room {
    let shown = |m: &HashMap<Box<str>, RoomAccess>, keep: &dyn Fn(&str) -> bool| {
        m.iter()
            .filter(|(id, _)| keep(id))
            .map(|(id, a)| (id.to_string(), access_to_pb(*a)))
            .collect()
    };
    let mut out = convert::room(room);
    let (user, groups) = viewer.unzip();
    out.user_accesses = shown(&acl.users, &|id| user.is_none_or(|u| u == id));
    out.group_accesses = shown(&acl.groups, &|id| {
        groups.is_none_or(|gs| gs.iter().any(|g| &**g == id))
    });
    out
}

/// A page of rooms with their entries as `viewer` may see them.
pub(super) fn with_accesses(
    rows: Vec<Room>,
    mut acls: HashMap<i64, RoomAcl>,
    viewer: Viewer<'_>,
) -> Vec<pb::Room> {
    rows.into_iter()
        .map(|room| {
            let acl = acls.remove(&room.seq).unwrap_or_default();
            room_pb(room, &acl, viewer)
        })
        .collect()
}

/// PERMISSION_DENIED for a user token that sets a backend-only field.
fn backend_only(caller: &EnvCaller, field: &str, set: bool) -> Result<()> {
    if set && matches!(caller.principal, Principal::User { .. }) {
        return Err(Error::PermissionDenied(format!(
            "{field} needs a backend credential (sk_ or rk_)"
        )));
    }
    Ok(())
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
        let mut acl = RoomAcl {
            default: access_from_pb("default_access", req.default_access)?.unwrap_or_default(),
            users: entries("user_accesses", &req.user_accesses)?,
            groups: entries("group_accesses", &req.group_accesses)?,
        };
        let sets_access = req.default_access != 0
            || !req.user_accesses.is_empty()
            || !req.group_accesses.is_empty();
        backend_only(
            &caller,
            "default_access, user_accesses and group_accesses",
            sets_access,
        )?;
        if acl.entries() > MAX_ROOM_ENTRIES {
            return Err(Error::invalid(
                "user_accesses",
                format!("a room holds at most {MAX_ROOM_ENTRIES} user and group entries"),
            )
            .into());
        }
        match &caller.principal {
            // A STORED-mode user who creates a room may write in it.
            Principal::User {
                user_id,
                rooms: UserRooms::Stored(_),
            } => {
                acl.users.insert((**user_id).into(), RoomAccess::Write);
            }
            _ => {
                caller
                    .require_room(&self.state.index, room_id.as_str(), RoomAccess::Write)
                    .await?
            }
        }
        let (room, acl) = caller
            .store(&self.state.store)
            .create_room(&room_id, &metadata, &acl)
            .await?;
        Ok(Response::new(room_pb(room, &acl, viewer(&caller))))
    }

    async fn get_room(
        &self,
        request: Request<pb::GetRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let caller = context::environment(&request)?;
        let room_id = parse_resource_id("room_id", &request.get_ref().room_id)?;
        caller
            .require_room(&self.state.index, room_id.as_str(), RoomAccess::Read)
            .await?;
        let (room, acl) = caller
            .store(&self.state.store)
            .room_with_acl(&room_id)
            .await?;
        Ok(Response::new(room_pb(room, &acl, viewer(&caller))))
    }

    async fn list_rooms(
        &self,
        request: Request<pb::ListRoomsRequest>,
    ) -> Result<Response<pb::ListRoomsResponse>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        backend_only(&caller, "user_id and group_ids", !req.user_id.is_empty())?;
        if req.user_id.is_empty() && !req.group_ids.is_empty() {
            return Err(Error::invalid("group_ids", "needs user_id").into());
        }
        // What the page token is bound to: the list and its filter.
        let (list, for_user) = if req.user_id.is_empty() {
            ("rooms".to_owned(), None)
        } else {
            let user = parse_resource_id("user_id", &req.user_id)?;
            if req.group_ids.len() > MAX_GROUPS {
                return Err(Error::invalid("group_ids", format!("at most {MAX_GROUPS}")).into());
            }
            check_subject_ids("group_ids", &req.group_ids)?;
            let list = format!("rooms|{}|{}", user.as_str(), req.group_ids.join(","));
            (
                list,
                Some((user.as_str().to_owned(), req.group_ids.clone())),
            )
        };
        let page = self.state.page(caller.tenant(), &list, req)?;
        let store = caller.store(&self.state.store);
        let (rows, next_page_token) = match (&caller.principal, &for_user) {
            (_, Some((user, groups))) => store.list_rooms_readable_by(&page, user, groups).await?,
            (
                Principal::User {
                    user_id,
                    rooms: UserRooms::Stored(groups),
                },
                None,
            ) => store.list_rooms_readable_by(&page, user_id, groups).await?,
            // Only the rooms the token's patterns may read.
            (
                Principal::User {
                    rooms: UserRooms::Patterns(policy),
                    ..
                },
                None,
            ) => {
                let (exact, prefixes) = policy.patterns();
                store
                    .list_rooms_matching(&page, &exact, &prefixes, |room| {
                        policy.allows(room, RoomAccess::Read)
                    })
                    .await?
            }
            _ => store.list_rooms(&page).await?,
        };
        let acls = store.acls_of_page(&rows).await?;
        let rooms = with_accesses(rows, acls, viewer(&caller));
        Ok(Response::new(pb::ListRoomsResponse {
            rooms,
            next_page_token,
        }))
    }

    async fn update_room_access(
        &self,
        request: Request<pb::UpdateRoomAccessRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let room_id = parse_resource_id("room_id", &req.room_id)?;
        let users = entries("set_user_accesses", &req.set_user_accesses)?;
        let groups = entries("set_group_accesses", &req.set_group_accesses)?;
        check_subject_ids("remove_user_ids", &req.remove_user_ids)?;
        check_subject_ids("remove_group_ids", &req.remove_group_ids)?;
        if let Some(id) = req
            .remove_user_ids
            .iter()
            .find(|id| users.contains_key(id.as_str()))
        {
            return Err(Error::invalid("remove_user_ids", format!("{id:?} is also set")).into());
        }
        if let Some(id) = req
            .remove_group_ids
            .iter()
            .find(|id| groups.contains_key(id.as_str()))
        {
            return Err(Error::invalid("remove_group_ids", format!("{id:?} is also set")).into());
        }
        let mut update = AccessUpdate {
            default: access_from_pb("default_access", req.default_access)?,
            ..AccessUpdate::default()
        };
        for (id, access) in &users {
            update.set(Subject::User(id), *access);
        }
        for (id, access) in &groups {
            update.set(Subject::Group(id), *access);
        }
        for id in &req.remove_user_ids {
            update.remove(Subject::User(id));
        }
        for id in &req.remove_group_ids {
            update.remove(Subject::Group(id));
        }
        if update.set.len() + update.remove.len() > 2 * MAX_ROOM_ENTRIES {
            return Err(Error::invalid(
                "set_user_accesses",
                format!("at most {MAX_ROOM_ENTRIES} entries per room"),
            )
            .into());
        }
        let (room, acl) = caller
            .store(&self.state.store)
            .update_room_access(&room_id, &update)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(room_pb(room, &acl, viewer(&caller))))
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
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(()))
    }
}
