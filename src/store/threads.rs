//! Threads and comments of an environment. A thread's `comment_count` is
//! kept in the same transaction as every comment write.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use super::Store;
use super::counters::{self, Delta};
use super::entity::{comment, thread};
use super::paging::fetch_page;
use super::rooms;
use crate::domain::ids::{IdKind, new_id};
use crate::domain::page::PageRequest;
use crate::domain::scope::EnvironmentScope;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// Who may change a comment.
#[derive(Clone, Copy, Debug)]
pub enum Editor<'a> {
    /// The customer's backend: any comment.
    Server,
    /// An end user: only their own comments.
    User(&'a str),
}

/// Creates a thread in a room with its first comment, in one transaction.
pub async fn create_thread(
    store: &Store,
    scope: &EnvironmentScope,
    room_id: &str,
    author: &str,
    body: &str,
) -> Result<(thread::Model, comment::Model)> {
    let now = now_micros();
    let tx = store.writer().begin().await?;
    let room = rooms::find(&tx, scope, room_id).await?;
    let thread = thread::ActiveModel {
        id: Set(new_id(IdKind::Thread)),
        environment_id: Set(scope.environment_id().to_owned()),
        room_id: Set(room.room_id),
        comment_count: Set(1),
        create_time: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let comment = insert_comment(&tx, scope, &thread.id, author, body, now).await?;
    counters::add(
        &tx,
        scope,
        Delta {
            threads: 1,
            comments: 1,
            ..Delta::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok((thread, comment))
}

async fn insert_comment(
    db: &impl ConnectionTrait,
    scope: &EnvironmentScope,
    thread_id: &str,
    author: &str,
    body: &str,
    now: i64,
) -> Result<comment::Model> {
    Ok(comment::ActiveModel {
        id: Set(new_id(IdKind::Comment)),
        environment_id: Set(scope.environment_id().to_owned()),
        thread_id: Set(thread_id.to_owned()),
        user_id: Set(author.to_owned()),
        body: Set(body.to_owned()),
        create_time: Set(now),
        edit_time: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

async fn find_thread(
    db: &impl ConnectionTrait,
    scope: &EnvironmentScope,
    id: &str,
) -> Result<thread::Model> {
    thread::Entity::find()
        .filter(thread::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(thread::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("thread"))
}

async fn find_comment(
    db: &impl ConnectionTrait,
    scope: &EnvironmentScope,
    id: &str,
) -> Result<comment::Model> {
    comment::Entity::find()
        .filter(comment::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(comment::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("comment"))
}

async fn add_to_count(
    db: &impl ConnectionTrait,
    scope: &EnvironmentScope,
    thread_id: &str,
    delta: i64,
) -> Result<()> {
    thread::Entity::update_many()
        .col_expr(
            thread::Column::CommentCount,
            Expr::col(thread::Column::CommentCount).add(delta),
        )
        .filter(thread::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(thread::Column::Id.eq(thread_id))
        .exec(db)
        .await?;
    Ok(())
}

/// One page of threads, of one room (NOT_FOUND if it does not exist) or of
/// the whole environment.
pub async fn list_threads(
    store: &Store,
    scope: &EnvironmentScope,
    room_id: Option<&str>,
    page: &PageRequest,
) -> Result<(Vec<thread::Model>, String)> {
    let mut query =
        thread::Entity::find().filter(thread::Column::EnvironmentId.eq(scope.environment_id()));
    if let Some(room_id) = room_id {
        rooms::find(store.reader(), scope, room_id).await?;
        query = query.filter(thread::Column::RoomId.eq(room_id));
    }
    fetch_page(store.reader(), query, thread::Column::Seq, page).await
}

/// Adds a comment to a thread.
pub async fn create_comment(
    store: &Store,
    scope: &EnvironmentScope,
    thread_id: &str,
    author: &str,
    body: &str,
) -> Result<comment::Model> {
    let tx = store.writer().begin().await?;
    let thread = find_thread(&tx, scope, thread_id).await?;
    let comment = insert_comment(&tx, scope, &thread.id, author, body, now_micros()).await?;
    add_to_count(&tx, scope, &thread.id, 1).await?;
    counters::add(
        &tx,
        scope,
        Delta {
            comments: 1,
            ..Delta::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(comment)
}

/// One page of a thread's comments (NOT_FOUND if the thread does not exist).
pub async fn list_comments(
    store: &Store,
    scope: &EnvironmentScope,
    thread_id: &str,
    page: &PageRequest,
) -> Result<(Vec<comment::Model>, String)> {
    find_thread(store.reader(), scope, thread_id).await?;
    let query = comment::Entity::find()
        .filter(comment::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(comment::Column::ThreadId.eq(thread_id));
    fetch_page(store.reader(), query, comment::Column::Seq, page).await
}

fn check_editor(comment: &comment::Model, editor: Editor<'_>) -> Result<()> {
    match editor {
        Editor::User(user) if comment.user_id != user => Err(Error::PermissionDenied(
            "a user may change only their own comments".into(),
        )),
        _ => Ok(()),
    }
}

/// Edits a comment's body.
pub async fn update_comment(
    store: &Store,
    scope: &EnvironmentScope,
    id: &str,
    body: &str,
    editor: Editor<'_>,
) -> Result<comment::Model> {
    let tx = store.writer().begin().await?;
    let comment = find_comment(&tx, scope, id).await?;
    check_editor(&comment, editor)?;
    let mut active: comment::ActiveModel = comment.into();
    active.body = Set(body.to_owned());
    active.edit_time = Set(Some(now_micros()));
    let comment = active.update(&tx).await?;
    tx.commit().await?;
    Ok(comment)
}

/// Deletes a comment.
pub async fn delete_comment(
    store: &Store,
    scope: &EnvironmentScope,
    id: &str,
    editor: Editor<'_>,
) -> Result<()> {
    let tx = store.writer().begin().await?;
    let comment = find_comment(&tx, scope, id).await?;
    check_editor(&comment, editor)?;
    comment::Entity::delete_many()
        .filter(comment::Column::EnvironmentId.eq(scope.environment_id()))
        .filter(comment::Column::Seq.eq(comment.seq))
        .exec(&tx)
        .await?;
    add_to_count(&tx, scope, &comment.thread_id, -1).await?;
    counters::add(
        &tx,
        scope,
        Delta {
            comments: -1,
            ..Delta::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
