//! Rooms of an environment, with their stored accesses (STORED mode).

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::Page;
use super::counters::Delta;
use super::entity::{comment, room, room_access, thread};
use super::paging::fetch_records;
use super::revocation::RoomChange;
use super::tenant::EnvironmentStore;
use super::write::{Op, Revoked};
use crate::domain::names::ResourceId;
use crate::domain::page::PageRequest;
use crate::domain::records::Room;
use crate::domain::rooms::{MAX_ROOM_ENTRIES, RoomAccess, RoomAcl, Subject};
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// A room with its stored accesses.
pub type RoomWithAcl = (Room, RoomAcl);

/// A change of a room's stored accesses (`UpdateRoomAccess`), validated.
#[derive(Clone, Debug, Default)]
pub struct AccessUpdate {
    /// The new default; `None` leaves it.
    pub default: Option<RoomAccess>,
    /// Entries to add or change.
    pub set: Vec<(String, RoomAccess)>,
    /// Entries to remove.
    pub remove: Vec<String>,
}

impl AccessUpdate {
    /// Sets `subject` to `access`.
    pub fn set(&mut self, subject: Subject<'_>, access: RoomAccess) {
        self.set.push((subject.to_stored(), access));
    }

    /// Removes `subject`'s entry.
    pub fn remove(&mut self, subject: Subject<'_>) {
        self.remove.push(subject.to_stored());
    }
}

impl EnvironmentStore<'_> {
    /// Creates a room with its stored accesses; ALREADY_EXISTS if the id
    /// is taken in this environment.
    pub async fn create_room(
        &self,
        room_id: &ResourceId,
        metadata: &BTreeMap<String, String>,
        acl: &RoomAcl,
    ) -> Result<RoomWithAcl> {
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
                        default_access: Set(acl.default.to_stored()),
                        readable_by_default: Set(readable(acl.default)),
                        ..Default::default()
                    }
                    .insert(tx)
                    .await
                    .map_err(|e| match Error::from(e) {
                        Error::AlreadyExists(_) => Error::AlreadyExists("room"),
                        other => other,
                    })?;
                    let rows = entries(acl).map(|(subject, access)| room_access::ActiveModel {
                        environment_id: Set(room.environment_id.clone()),
                        room_seq: Set(room.seq),
                        subject: Set(subject),
                        access: Set(access.to_stored()),
                    });
                    insert_entries(tx, rows.collect()).await?;
                    let delta = Delta {
                        rooms: 1,
                        ..Delta::default()
                    };
                    self.count(tx, delta).await?;
                    Ok((room.into(), acl.clone()))
                })
            })
            .await
    }

    /// One room, or NOT_FOUND.
    pub async fn room(&self, room_id: &ResourceId) -> Result<Room> {
        let by_id = room::Column::RoomId;
        let room = self
            .one::<room::Entity>(&self.store.read, by_id, room_id.as_str(), "room")
            .await?;
        Ok(room.into())
    }

    /// One room with its stored accesses, or NOT_FOUND.
    pub async fn room_with_acl(&self, room_id: &ResourceId) -> Result<RoomWithAcl> {
        self.room_and_acl(room_id.as_str())
            .await?
            .ok_or(Error::NotFound("room"))
    }

    /// A room and its entries in one round trip (a LEFT JOIN: one row per
    /// entry, or one row with NULLs for a room without entries); `None`
    /// if the room does not exist.
    async fn room_and_acl(&self, room_id: &str) -> Result<Option<RoomWithAcl>> {
        use sea_orm::FromQueryResult;
        let (r, a) = (room::Entity, room_access::Entity);
        let query = Query::select()
            .columns([
                (r, room::Column::Seq),
                (r, room::Column::EnvironmentId),
                (r, room::Column::RoomId),
                (r, room::Column::Metadata),
                (r, room::Column::CreateTime),
                (r, room::Column::DefaultAccess),
                (r, room::Column::ReadableByDefault),
            ])
            .columns([
                (a, room_access::Column::Subject),
                (a, room_access::Column::Access),
            ])
            .from(r)
            .left_join(
                a,
                Expr::col((a, room_access::Column::EnvironmentId))
                    .equals((r, room::Column::EnvironmentId))
                    .and(
                        Expr::col((a, room_access::Column::RoomSeq)).equals((r, room::Column::Seq)),
                    ),
            )
            .and_where(Expr::col((r, room::Column::EnvironmentId)).eq(self.id().as_str()))
            .and_where(Expr::col((r, room::Column::RoomId)).eq(room_id))
            .to_owned();
        let db = &self.store.read;
        let rows = db.query_all(&query).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let room = Room::from(room::Model::from_query_result(first, "")?);
        let mut acl = RoomAcl {
            default: room.default_access,
            ..RoomAcl::default()
        };
        for row in &rows {
            let subject: Option<String> = row.try_get("", "subject")?;
            let access: Option<i16> = row.try_get("", "access")?;
            let (Some(subject), Some(access)) = (subject, access) else {
                continue;
            };
            add_entry(&mut acl, &subject, access);
        }
        Ok(Some((room, acl)))
    }

    /// A room's stored accesses; `None` if the room does not exist.
    pub async fn room_acl(&self, room_id: &str) -> Result<Option<RoomAcl>> {
        Ok(self.room_and_acl(room_id).await?.map(|(_, acl)| acl))
    }

    /// The stored accesses of `rooms` (one query), by room `seq`.
    pub async fn acls_of(
        &self,
        db: &impl ConnectionTrait,
        rooms: &[Room],
    ) -> Result<HashMap<i64, RoomAcl>> {
        let mut out: HashMap<i64, RoomAcl> = rooms
            .iter()
            .map(|r| {
                let acl = RoomAcl {
                    default: r.default_access,
                    ..RoomAcl::default()
                };
                (r.seq, acl)
            })
            .collect();
        if rooms.is_empty() {
            return Ok(out);
        }
        let rows = self
            .select::<room_access::Entity>()
            .filter(room_access::Column::RoomSeq.is_in(rooms.iter().map(|r| r.seq)))
            .all(db)
            .await?;
        for row in rows {
            let Some(acl) = out.get_mut(&row.room_seq) else {
                continue;
            };
            add_entry(acl, &row.subject, row.access);
        }
        Ok(out)
    }

    /// The stored accesses of a page of rooms, by room `seq`.
    pub async fn acls_of_page(&self, rooms: &[Room]) -> Result<HashMap<i64, RoomAcl>> {
        self.acls_of(&self.store.read, rooms).await
    }

    /// One page of the environment's rooms, oldest first.
    pub async fn list_rooms(&self, page: &PageRequest) -> Result<Page<Room>> {
        let query = self.select::<room::Entity>();
        fetch_records(&self.store.read, query, room::Column::Seq, page).await
    }

    /// One page of the rooms `user_id` with `groups` may read in STORED
    /// mode, oldest first: the union of keyset scans — rooms readable by
    /// default, the user's entries, each group's entries — each on its own
    /// index and limited to the page, so nothing is filtered in memory and
    /// the cost follows the page, not the environment's size.
    pub async fn list_rooms_readable_by(
        &self,
        page: &PageRequest,
        user_id: &str,
        groups: &[impl AsRef<str>],
    ) -> Result<Page<Room>> {
        let limit = page.size + 1;
        let env = self.id().as_str();
        let by_default = Query::select()
            .column(room::Column::Seq)
            .from(room::Entity)
            .and_where(Expr::col(room::Column::EnvironmentId).eq(env))
            .and_where(Expr::col(room::Column::ReadableByDefault).eq(1))
            .and_where(Expr::col(room::Column::Seq).gt(page.after))
            .order_by(room::Column::Seq, sea_orm::Order::Asc)
            .limit(limit)
            .to_owned();
        let seq = Alias::new("seq");
        let wrap = |inner: SelectStatement, name: String| {
            Query::select()
                .column(seq.clone())
                .from_subquery(inner, Alias::new(name))
                .to_owned()
        };
        let mut union = wrap(by_default, "d".to_owned());
        let subjects = std::iter::once(Subject::User(user_id).to_stored()).chain(
            groups
                .iter()
                .map(|g| Subject::Group(g.as_ref()).to_stored()),
        );
        for (i, subject) in subjects.enumerate() {
            let entries = Query::select()
                .expr_as(Expr::col(room_access::Column::RoomSeq), seq.clone())
                .from(room_access::Entity)
                .and_where(Expr::col(room_access::Column::EnvironmentId).eq(env))
                .and_where(Expr::col(room_access::Column::Subject).eq(subject))
                .and_where(Expr::col(room_access::Column::RoomSeq).gt(page.after))
                .and_where(Expr::col(room_access::Column::Access).gte(1))
                .order_by(room_access::Column::RoomSeq, sea_orm::Order::Asc)
                .limit(limit)
                .to_owned();
            union.union(UnionType::Distinct, wrap(entries, format!("s{i}")));
        }
        let query = self
            .select::<room::Entity>()
            .filter(room::Column::Seq.in_subquery(union));
        fetch_records(&self.store.read, query, room::Column::Seq, page).await
    }

    /// Changes a room's stored accesses (FAILED_PRECONDITION beyond
    /// [`MAX_ROOM_ENTRIES`] entries); every replica forgets the old ones
    /// once the result is finished.
    pub async fn update_room_access(
        &self,
        room_id: &ResourceId,
        update: &AccessUpdate,
    ) -> Result<Revoked<RoomWithAcl>> {
        self.store
            .write_revoking(Op::UpdateRoomAccess, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let by_id = room::Column::RoomId;
                    // Serialize with other changes of this room: PostgreSQL
                    // locks the row; SQLite has one writer.
                    let room = self
                        .select::<room::Entity>()
                        .filter(by_id.eq(room_id.as_str()))
                        .lock_exclusive()
                        .one(tx)
                        .await?
                        .ok_or(Error::NotFound("room"))?;
                    let room = match update.default {
                        Some(default) if default.to_stored() != room.default_access => {
                            let mut active: room::ActiveModel = room.into();
                            active.default_access = Set(default.to_stored());
                            active.readable_by_default = Set(readable(default));
                            active.update(tx).await?
                        }
                        _ => room,
                    };
                    let of_room = self
                        .delete::<room_access::Entity>()
                        .filter(room_access::Column::RoomSeq.eq(room.seq));
                    let touched = update
                        .remove
                        .iter()
                        .chain(update.set.iter().map(|(s, _)| s))
                        .cloned();
                    of_room
                        .filter(room_access::Column::Subject.is_in(touched))
                        .exec(tx)
                        .await?;
                    let rows =
                        update
                            .set
                            .iter()
                            .map(|(subject, access)| room_access::ActiveModel {
                                environment_id: Set(room.environment_id.clone()),
                                room_seq: Set(room.seq),
                                subject: Set(subject.clone()),
                                access: Set(access.to_stored()),
                            });
                    insert_entries(tx, rows.collect()).await?;
                    let room = Room::from(room);
                    let mut acls = self.acls_of(tx, std::slice::from_ref(&room)).await?;
                    let acl = acls.remove(&room.seq).unwrap_or_default();
                    if acl.entries() > MAX_ROOM_ENTRIES {
                        return Err(Error::FailedPrecondition(format!(
                            "a room holds at most {MAX_ROOM_ENTRIES} user and group entries \
                             (this change makes {})",
                            acl.entries()
                        )));
                    }
                    pending.rooms.push(RoomChange {
                        environment_id: room.environment_id.clone(),
                        room_id: room.room_id.clone(),
                    });
                    Ok((room, acl))
                })
            })
            .await
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
    ) -> Result<Page<Room>> {
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
        let (mut rows, next) =
            fetch_records(&self.store.read, query, room::Column::Seq, page).await?;
        rows.retain(|room: &Room| keep(&room.room_id));
        Ok((rows, next))
    }

    /// Deletes a room with its threads, comments and stored accesses, in
    /// one transaction; every replica forgets its accesses once finished.
    pub async fn delete_room(&self, room_id: &ResourceId) -> Result<Revoked<()>> {
        self.store
            .write_revoking(Op::DeleteRoom, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
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
                    self.delete::<room_access::Entity>()
                        .filter(room_access::Column::RoomSeq.eq(room.seq))
                        .exec(tx)
                        .await?;
                    pending.rooms.push(RoomChange {
                        environment_id: room.environment_id.clone(),
                        room_id: room.room_id.clone(),
                    });
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

/// Adds a stored entry (`u:…`/`g:…`, 0–2) to `acl`.
fn add_entry(acl: &mut RoomAcl, subject: &str, access: i16) {
    let access = RoomAccess::from_stored(access);
    match Subject::from_stored(subject) {
        Some(Subject::User(id)) => acl.users.insert(id.into(), access),
        Some(Subject::Group(id)) => acl.groups.insert(id.into(), access),
        None => None,
    };
}

/// 1 when `access` lets everyone read (the indexed mirror of the default).
fn readable(access: RoomAccess) -> i16 {
    i16::from(access >= RoomAccess::Read)
}

/// A room's entries as stored rows: users, then groups.
fn entries(acl: &RoomAcl) -> impl Iterator<Item = (String, RoomAccess)> + '_ {
    let users = acl
        .users
        .iter()
        .map(|(id, a)| (Subject::User(id).to_stored(), *a));
    let groups = acl
        .groups
        .iter()
        .map(|(id, a)| (Subject::Group(id).to_stored(), *a));
    users.chain(groups)
}

/// Inserts entries in batches (SQLite binds at most 32,766 values).
async fn insert_entries(
    tx: &impl ConnectionTrait,
    rows: Vec<room_access::ActiveModel>,
) -> Result<()> {
    for batch in rows.chunks(500) {
        room_access::Entity::insert_many(batch.to_vec())
            .exec_without_returning(tx)
            .await?;
    }
    Ok(())
}
