//! Threads and comments of an environment. A thread's `comment_count` is
//! kept in the same transaction as every comment write.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};

use super::Page;
use super::counters::Delta;
use super::entity::{comment, room, thread};
use super::paging::fetch_records;
use super::tenant::EnvironmentStore;
use super::write::Op;
use crate::domain::ids::{CommentId, ThreadId};
use crate::domain::names::ResourceId;
use crate::domain::page::PageRequest;
use crate::domain::records::{Comment, Thread};
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// Who may change a comment.
#[derive(Clone, Copy, Debug)]
pub enum Editor<'a> {
    /// The customer's backend: any comment.
    Server,
    /// An end user: only their own comments.
    User(&'a ResourceId),
}

impl Editor<'_> {
    fn check(self, comment: &comment::Model) -> Result<()> {
        match self {
            Editor::User(user) if comment.user_id != user.as_str() => Err(Error::PermissionDenied(
                "a user may change only their own comments".into(),
            )),
            _ => Ok(()),
        }
    }
}

impl EnvironmentStore<'_> {
    /// Creates a thread in a room with its first comment, in one transaction.
    pub async fn create_thread(
        &self,
        room_id: &ResourceId,
        author: &ResourceId,
        body: &str,
    ) -> Result<(Thread, Comment)> {
        let now = now_micros();
        self.store
            .write(Op::CreateThread, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let by_id = room::Column::RoomId;
                    let room = self
                        .one::<room::Entity>(tx, by_id, room_id.as_str(), "room")
                        .await?;
                    let thread = thread::ActiveModel {
                        id: Set(ThreadId::generate().into_string()),
                        environment_id: Set(self.id().as_str().to_owned()),
                        room_id: Set(room.room_id),
                        comment_count: Set(1),
                        create_time: Set(now),
                        ..Default::default()
                    }
                    .insert(tx)
                    .await?;
                    let comment = self
                        .insert_comment(tx, &thread.id, author, body, now)
                        .await?;
                    let delta = Delta {
                        threads: 1,
                        comments: 1,
                        users: self.ensure_user(tx, author, now).await?,
                        ..Delta::default()
                    };
                    self.count(tx, delta).await?;
                    Ok((thread.into(), comment.into()))
                })
            })
            .await
    }

    async fn insert_comment(
        &self,
        db: &impl ConnectionTrait,
        thread_id: &str,
        author: &ResourceId,
        body: &str,
        now: i64,
    ) -> Result<comment::Model> {
        Ok(comment::ActiveModel {
            id: Set(CommentId::generate().into_string()),
            environment_id: Set(self.id().as_str().to_owned()),
            thread_id: Set(thread_id.to_owned()),
            user_id: Set(author.as_str().to_owned()),
            body: Set(body.to_owned()),
            create_time: Set(now),
            edit_time: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?)
    }

    async fn thread(&self, db: &impl ConnectionTrait, id: &ThreadId) -> Result<thread::Model> {
        self.one::<thread::Entity>(db, thread::Column::Id, id.as_str(), "thread")
            .await
    }

    async fn comment(&self, db: &impl ConnectionTrait, id: &CommentId) -> Result<comment::Model> {
        self.one::<comment::Entity>(db, comment::Column::Id, id.as_str(), "comment")
            .await
    }

    /// Changes a thread's comment count by `delta`, and the environment's
    /// (with `users` new users).
    async fn count_comments(
        &self,
        db: &impl ConnectionTrait,
        thread_id: &str,
        delta: i64,
        users: i64,
    ) -> Result<()> {
        let column = thread::Column::CommentCount;
        self.update::<thread::Entity>()
            .col_expr(column, Expr::col(column).add(delta))
            .filter(thread::Column::Id.eq(thread_id))
            .exec(db)
            .await?;
        let delta = Delta {
            comments: delta,
            users,
            ..Delta::default()
        };
        self.count(db, delta).await
    }

    /// One page of threads, of one room (NOT_FOUND if it does not exist) or
    /// of the whole environment.
    pub async fn list_threads(
        &self,
        room_id: Option<&ResourceId>,
        page: &PageRequest,
    ) -> Result<Page<Thread>> {
        let mut query = self.select::<thread::Entity>();
        if let Some(room_id) = room_id {
            self.room(room_id).await?;
            query = query.filter(thread::Column::RoomId.eq(room_id.as_str()));
        }
        fetch_records(&self.store.read, query, thread::Column::Seq, page).await
    }

    /// Adds a comment to a thread.
    pub async fn create_comment(
        &self,
        thread_id: &ThreadId,
        author: &ResourceId,
        body: &str,
    ) -> Result<Comment> {
        self.store
            .write(Op::CreateComment, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let thread = self.thread(tx, thread_id).await?;
                    let now = now_micros();
                    let comment = self
                        .insert_comment(tx, &thread.id, author, body, now)
                        .await?;
                    let users = self.ensure_user(tx, author, now).await?;
                    self.count_comments(tx, &thread.id, 1, users).await?;
                    Ok(comment.into())
                })
            })
            .await
    }

    /// One page of a thread's comments (NOT_FOUND if the thread does not
    /// exist).
    pub async fn list_comments(
        &self,
        thread_id: &ThreadId,
        page: &PageRequest,
    ) -> Result<Page<Comment>> {
        self.thread(&self.store.read, thread_id).await?;
        let query = self
            .select::<comment::Entity>()
            .filter(comment::Column::ThreadId.eq(thread_id.as_str()));
        fetch_records(&self.store.read, query, comment::Column::Seq, page).await
    }

    /// Edits a comment's body.
    pub async fn update_comment(
        &self,
        id: &CommentId,
        body: &str,
        editor: Editor<'_>,
    ) -> Result<Comment> {
        self.store
            .write(Op::UpdateComment, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let comment = self.comment(tx, id).await?;
                    editor.check(&comment)?;
                    let mut active: comment::ActiveModel = comment.into();
                    active.body = Set(body.to_owned());
                    active.edit_time = Set(Some(now_micros()));
                    let comment = active.update(tx).await?;
                    Ok(comment.into())
                })
            })
            .await
    }

    /// Deletes a comment.
    pub async fn delete_comment(&self, id: &CommentId, editor: Editor<'_>) -> Result<()> {
        self.store
            .write(Op::DeleteComment, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let comment = self.comment(tx, id).await?;
                    editor.check(&comment)?;
                    self.delete::<comment::Entity>()
                        .filter(comment::Column::Seq.eq(comment.seq))
                        .exec(tx)
                        .await?;
                    self.count_comments(tx, &comment.thread_id, -1, 0).await?;
                    Ok(())
                })
            })
            .await
    }
}

impl EnvironmentStore<'_> {
    /// The room a thread is in (NOT_FOUND if there is no such thread): for
    /// checking a user token's room permissions.
    pub async fn room_of_thread(&self, id: &ThreadId) -> Result<String> {
        Ok(self.thread(&self.store.read, id).await?.room_id)
    }

    /// The room a comment is in (NOT_FOUND if there is no such comment).
    pub async fn room_of_comment(&self, id: &CommentId) -> Result<String> {
        let comment = self.comment(&self.store.read, id).await?;
        let thread = ThreadId::from_stored(comment.thread_id);
        self.room_of_thread(&thread).await
    }
}
