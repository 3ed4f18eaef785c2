//! Rooms of an environment.

use std::collections::BTreeMap;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter};

use super::Page;
use super::counters::Delta;
use super::entity::{comment, room, thread};
use super::paging::fetch_page;
use super::tenant::EnvironmentStore;
use super::write::Op;
use crate::domain::names::ResourceId;
use crate::domain::page::PageRequest;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

impl EnvironmentStore<'_> {
    /// Creates a room; ALREADY_EXISTS if the id is taken in this environment.
    pub async fn create_room(
        &self,
        room_id: &ResourceId,
        metadata: &BTreeMap<String, String>,
    ) -> Result<room::Model> {
        let metadata = serde_json::to_string(metadata).map_err(Error::internal)?;
        let metadata = &metadata;
        self.store
            .write(Op::CreateRoom, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let room = room::ActiveModel {
                        environment_id: Set(self.id().as_str().to_owned()),
                        room_id: Set(room_id.as_str().to_owned()),
                        metadata: Set(metadata.clone()),
                        create_time: Set(now_micros()),
                        ..Default::default()
                    }
                    .insert(tx)
                    .await
                    .map_err(|e| match Error::from(e) {
                        Error::AlreadyExists(_) => Error::AlreadyExists("room"),
                        other => other,
                    })?;
                    let delta = Delta {
                        rooms: 1,
                        ..Delta::default()
                    };
                    self.count(tx, delta).await?;
                    Ok(room)
                })
            })
            .await
    }

    /// One room, or NOT_FOUND.
    pub async fn room(&self, room_id: &ResourceId) -> Result<room::Model> {
        let by_id = room::Column::RoomId;
        self.one::<room::Entity>(&self.store.read, by_id, room_id.as_str(), "room")
            .await
    }

    /// One page of the environment's rooms, oldest first.
    pub async fn list_rooms(&self, page: &PageRequest) -> Result<Page<room::Model>> {
        let query = self.select::<room::Entity>();
        fetch_page(&self.store.read, query, room::Column::Seq, page).await
    }

    /// One page of the rooms a user token's patterns match, oldest first.
    /// The database narrows by the patterns (exact ids, `LIKE` prefixes)
    /// when there are few enough for one query; `keep` then decides each
    /// row exactly (SQLite's `LIKE` ignores ASCII case). A page may hold
    /// fewer rows than asked; its token continues where the scan stopped.
    pub async fn list_rooms_matching(
        &self,
        page: &PageRequest,
        exact: &[&str],
        prefixes: &[&str],
        keep: impl Fn(&str) -> bool,
    ) -> Result<Page<room::Model>> {
        use sea_orm::Condition;
        use sea_orm::sea_query::{ExprTrait, LikeExpr};
        /// Beyond this many prefixes the rows are filtered in memory only
        /// (SQLite limits an expression's depth).
        const MAX_SQL_PREFIXES: usize = 64;
        let mut query = self.select::<room::Entity>();
        let everything = prefixes.iter().any(|p| p.is_empty());
        if !everything && prefixes.len() <= MAX_SQL_PREFIXES {
            let mut any = Condition::any();
            if !exact.is_empty() {
                any = any.add(room::Column::RoomId.is_in(exact.iter().copied()));
            }
            for prefix in prefixes {
                let escaped: String = prefix
                    .chars()
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                let like = LikeExpr::new(format!("{escaped}%")).escape('\\');
                any = any.add(sea_orm::sea_query::Expr::col(room::Column::RoomId).like(like));
            }
            query = query.filter(any);
        }
        let (mut rows, next) = fetch_page(&self.store.read, query, room::Column::Seq, page).await?;
        rows.retain(|room| keep(&room.room_id));
        Ok((rows, next))
    }

    /// Deletes a room with its threads and comments, in one transaction.
    pub async fn delete_room(&self, room_id: &ResourceId) -> Result<()> {
        self.store
            .write(Op::DeleteRoom, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let by_id = room::Column::RoomId;
                    let room = self
                        .one::<room::Entity>(tx, by_id, room_id.as_str(), "room")
                        .await?;
                    let in_room = thread::Column::RoomId.eq(&room.room_id);
                    let threads: Vec<String> = self
                        .select::<thread::Entity>()
                        .filter(in_room.clone())
                        .all(tx)
                        .await?
                        .into_iter()
                        .map(|t| t.id)
                        .collect();
                    let thread_count = threads.len() as i64;
                    let mut comment_count = 0;
                    if !threads.is_empty() {
                        comment_count = self
                            .delete::<comment::Entity>()
                            .filter(comment::Column::ThreadId.is_in(threads))
                            .exec(tx)
                            .await?
                            .rows_affected as i64;
                    }
                    self.delete::<thread::Entity>()
                        .filter(in_room)
                        .exec(tx)
                        .await?;
                    self.delete::<room::Entity>()
                        .filter(room::Column::Seq.eq(room.seq))
                        .exec(tx)
                        .await?;
                    let delta = Delta {
                        rooms: -1,
                        threads: -thread_count,
                        comments: -comment_count,
                        users: 0,
                    };
                    self.count(tx, delta).await?;
                    Ok(())
                })
            })
            .await
    }
}

/// The stored metadata as a map.
pub fn metadata(room: &room::Model) -> BTreeMap<String, String> {
    serde_json::from_str(&room.metadata).unwrap_or_default()
}
