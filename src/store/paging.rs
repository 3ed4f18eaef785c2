//! Keyset pagination over any table with a `seq` column.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::entity::{
    account, admin_token, api_key, audit_event, comment, environment, member, room, signing_key,
    thread, user,
};
use crate::domain::page::PageRequest;
use crate::error::Result;

/// A row with an insertion-order sequence number.
pub(crate) trait Sequenced {
    /// The row's `seq`.
    fn seq(&self) -> i64;
}

macro_rules! sequenced {
    ($($module:ident),*) => {
        $(impl Sequenced for $module::Model {
            fn seq(&self) -> i64 {
                self.seq
            }
        })*
    };
}
sequenced!(
    account,
    admin_token,
    api_key,
    audit_event,
    comment,
    environment,
    member,
    room,
    signing_key,
    thread,
    user
);

/// One page of `query` (already filtered to the tenant) in `seq` order, as
/// records, and the token of the next page (empty at the end).
pub(crate) async fn fetch_records<E, R>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    seq: E::Column,
    page: &PageRequest,
) -> Result<(Vec<R>, String)>
where
    E: EntityTrait,
    E::Model: Sequenced + Send + Sync + Into<R>,
{
    let (rows, next) = fetch_page(db, query, seq, page).await?;
    Ok((rows.into_iter().map(Into::into).collect(), next))
}

/// [`fetch_records`] as models (rooms, threads and comments, until they
/// have records too).
pub(crate) async fn fetch_page<E>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    seq: E::Column,
    page: &PageRequest,
) -> Result<(Vec<E::Model>, String)>
where
    E: EntityTrait,
    E::Model: Sequenced + Send + Sync,
{
    let mut rows = query
        .filter(seq.gt(page.after))
        .order_by_asc(seq)
        .limit(page.size + 1)
        .all(db)
        .await?;
    let next = page.finish(&mut rows, Sequenced::seq);
    Ok((rows, next))
}
