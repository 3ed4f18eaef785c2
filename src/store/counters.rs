//! Per-environment counters on the `environments` row, changed in the same
//! transaction as the rows they count.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait};

use super::entity::environment;
use super::tenant::EnvironmentStore;
use crate::error::{Error, Result};

/// Changes to apply to an environment's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Delta {
    /// Rooms added (negative: removed).
    pub rooms: i64,
    /// Threads added.
    pub threads: i64,
    /// Users added.
    pub users: i64,
    /// Comments added.
    pub comments: i64,
}

impl EnvironmentStore<'_> {
    /// Applies `delta` to the environment (inside the caller's
    /// transaction). Every write to an environment's data goes through
    /// here, so it is also the write's proof that the environment still
    /// exists: NOT_FOUND (and the caller's transaction rolls back) when it
    /// was deleted. On PostgreSQL the update waits for a concurrent
    /// `DeleteEnvironment` (which locks the row first) and then finds
    /// nothing; on SQLite writes are serial and the delete has simply
    /// happened before.
    pub(super) async fn count(&self, db: &impl ConnectionTrait, delta: Delta) -> Result<()> {
        let mut update = self.update::<environment::Entity>();
        for (column, d) in [
            (environment::Column::RoomCount, delta.rooms),
            (environment::Column::ThreadCount, delta.threads),
            (environment::Column::UserCount, delta.users),
            (environment::Column::CommentCount, delta.comments),
        ] {
            if d != 0 {
                update = update.col_expr(column, Expr::col(column).add(d));
            }
        }
        if update.exec(db).await?.rows_affected == 0 {
            return Err(Error::NotFound("environment"));
        }
        Ok(())
    }
}
