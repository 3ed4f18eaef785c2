//! Rooms of an environment.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionTrait,
};

use super::Store;
use super::counters::{self, Delta};
use super::entity::{comment, room, thread};
use super::paging::fetch_page;
use crate::domain::page::PageRequest;
use crate::domain::scope::EnvironmentScope;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// Creates a room; ALREADY_EXISTS if the id is taken in this environment.
pub async fn create_room(
    store: &Store,
    scope: &EnvironmentScope,
    room_id: &str,
    metadata: &BTreeMap<String, String>,
) -> Result<room::Model> {
    let metadata = serde_json::to_string(metadata).map_err(Error::internal)?;
    let tx = store.writer().begin().await?;
    let room = room::ActiveModel {
        environment_id: Set(scope.environment_id().to_owned()),
        room_id: Set(room_id.to_owned()),
        metadata: Set(metadata),
        create_time: Set(now_micros()),
        ..Default::default()
    }
    .insert(&tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::AlreadyExists(_) => Error::AlreadyExists("room"),
        other => other,
    })?;
    counters::add(
        &tx,
        scope,
        Delta {
            rooms: 1,
            ..Delta::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(room)
}

/// Looks a room up in the scope.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    scope: &EnvironmentScope,
    room_id: &str,
) -> Result<room::Model> {
    room::Entity::find()
        .filter(room::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(room::Column::RoomId.eq(room_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("room"))
}

/// One room, or NOT_FOUND.
pub async fn get_room(
    store: &Store,
    scope: &EnvironmentScope,
    room_id: &str,
) -> Result<room::Model> {
    find(store.reader(), scope, room_id).await
}

/// One page of the environment's rooms, oldest first.
pub async fn list_rooms(
    store: &Store,
    scope: &EnvironmentScope,
    page: &PageRequest,
) -> Result<(Vec<room::Model>, String)> {
    let query = room::Entity::find().filter(room::Column::EnvironmentId.eq(scope.environment_id()));
    fetch_page(store.reader(), query, room::Column::Seq, page).await
}

/// Deletes a room with its threads and comments, in one transaction.
pub async fn delete_room(store: &Store, scope: &EnvironmentScope, room_id: &str) -> Result<()> {
    let tx = store.writer().begin().await?;
    let room = find(&tx, scope, room_id).await?;
    let threads: Vec<String> = thread::Entity::find()
        .filter(thread::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(thread::Column::RoomId.eq(&room.room_id))
        .all(&tx)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let thread_count = threads.len() as i64;
    let mut comment_count = 0;
    if !threads.is_empty() {
        comment_count = comment::Entity::delete_many()
            .filter(comment::Column::EnvironmentId.eq(scope.environment_id()))
            .filter(comment::Column::ThreadId.is_in(threads))
            .exec(&tx)
            .await?
            .rows_affected as i64;
    }
    thread::Entity::delete_many()
        .filter(thread::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(thread::Column::RoomId.eq(&room.room_id))
        .exec(&tx)
        .await?;
    room::Entity::delete_many()
        .filter(room::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(room::Column::Seq.eq(room.seq))
        .exec(&tx)
        .await?;
    let delta = Delta {
        rooms: -1,
        threads: -thread_count,
        comments: -comment_count,
        users: 0,
    };
    counters::add(&tx, scope, delta).await?;
    tx.commit().await?;
    Ok(())
}

/// The stored metadata as a map.
pub fn metadata(room: &room::Model) -> BTreeMap<String, String> {
    serde_json::from_str(&room.metadata).unwrap_or_default()
}
