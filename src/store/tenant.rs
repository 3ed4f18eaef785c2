//! Scoped store handles: the only way to read or write tenant data.
//!
//! [`Store::account`] and [`Store::environment`] take a scope (which only
//! `crate::auth` can build) and return a handle. Every tenant table says
//! once, here, which column holds its tenant ([`AccountOwned`],
//! [`EnvironmentOwned`]); the handles' `select`/`update`/`delete` apply
//! that filter, so no query method writes its own.

use sea_orm::sea_query::SimpleExpr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DeleteMany, EntityTrait, QueryFilter, QuerySelect, Select,
    UpdateMany,
};

use super::Store;
use super::entity::{
    account, admin_token, api_key, audit_event, comment, environment, key_usage, member, room,
    room_access, signing_key, thread, user, user_token_revocation,
};
use crate::domain::ids::{AccountId, EnvironmentId};
use crate::domain::roles::Environments;
use crate::domain::scope::{AccountScope, EnvironmentScope};
use crate::error::{Error, Result};

/// A table whose rows belong to one account.
pub(super) trait AccountOwned: EntityTrait {
    /// The column holding the account id.
    fn account_column() -> Self::Column;

    /// The column naming the row's environment, for tables whose rows
    /// belong to one (a scoped caller sees only its environments' rows).
    fn scoped_column() -> Option<Self::Column> {
        None
    }
}

/// A table whose rows belong to one environment.
pub(super) trait EnvironmentOwned: EntityTrait {
    /// The column holding the environment id.
    fn environment_column() -> Self::Column;
}

macro_rules! owned {
    ($trait:ident :: $method:ident { $($entity:ident . $column:ident),* $(,)? }) => {
        $(impl $trait for $entity::Entity {
            fn $method() -> Self::Column {
                $entity::Column::$column
            }
        })*
    };
}
owned!(AccountOwned::account_column {
    account.Id,
    admin_token.AccountId,
    member.AccountId,
});

/// Account tables whose rows also belong to one environment: a scoped
/// caller's queries filter on both columns.
macro_rules! scoped {
    ($($entity:ident . $column:ident => $env:ident),* $(,)?) => {
        $(impl AccountOwned for $entity::Entity {
            fn account_column() -> Self::Column {
                $entity::Column::$column
            }
            fn scoped_column() -> Option<Self::Column> {
                Some($entity::Column::$env)
            }
        })*
    };
}
scoped!(
    api_key.AccountId => EnvironmentId,
    audit_event.AccountId => EnvironmentId,
    environment.AccountId => Id,
    user_token_revocation.AccountId => EnvironmentId,
);
owned!(EnvironmentOwned::environment_column {
    api_key.EnvironmentId,
    audit_event.EnvironmentId,
    comment.EnvironmentId,
    environment.Id,
    key_usage.EnvironmentId,
    room.EnvironmentId,
    room_access.EnvironmentId,
    signing_key.EnvironmentId,
    thread.EnvironmentId,
    user.EnvironmentId,
    user_token_revocation.EnvironmentId,
});

/// One account's data.
#[derive(Clone, Copy, Debug)]
pub struct AccountStore<'a> {
    pub(super) store: &'a Store,
    scope: &'a AccountScope,
}

/// One environment's data.
#[derive(Clone, Copy, Debug)]
pub struct EnvironmentStore<'a> {
    pub(super) store: &'a Store,
    scope: &'a EnvironmentScope,
}

impl Store {
    /// The account's data, and nobody else's.
    pub fn account<'a>(&'a self, scope: &'a AccountScope) -> AccountStore<'a> {
        AccountStore { store: self, scope }
    }

    /// The environment's data, and nobody else's.
    pub fn environment<'a>(&'a self, scope: &'a EnvironmentScope) -> EnvironmentStore<'a> {
        EnvironmentStore { store: self, scope }
    }
}

impl AccountStore<'_> {
    /// The account's id.
    pub(super) fn id(&self) -> &AccountId {
        self.scope.account_id()
    }

    /// The account's rows, and of a scoped caller only its environments'
    /// (rows of no environment, such as account-level audit events, are
    /// outside every scope).
    fn tenant<E: AccountOwned>(&self) -> SimpleExpr {
        let account = E::account_column().eq(self.id().as_str());
        match (E::scoped_column(), self.scope.environments()) {
            (Some(column), Environments::Only(ids)) => sea_orm::sea_query::ExprTrait::and(
                account,
                column.is_in(ids.iter().map(String::as_str)),
            ),
            _ => account,
        }
    }

    /// `E`'s rows of this account.
    pub(super) fn select<E: AccountOwned>(&self) -> Select<E> {
        E::find().filter(self.tenant::<E>())
    }

    /// `E`'s rows of one of this account's environments.
    pub(super) fn select_in<E: EnvironmentOwned>(&self, env: &OwnedEnvironment) -> Select<E> {
        E::find().filter(E::environment_column().eq(env.0.id.as_str()))
    }

    /// A delete of `E`'s rows of one of this account's environments.
    pub(super) fn delete_in<E: EnvironmentOwned>(&self, env: &OwnedEnvironment) -> DeleteMany<E> {
        E::delete_many().filter(E::environment_column().eq(env.0.id.as_str()))
    }
}

/// An environment row read through an [`AccountStore`]: proof that the
/// environment is the account's, required to reach its rows from there.
#[derive(Clone, Debug)]
pub(super) struct OwnedEnvironment(pub(super) environment::Model);

impl EnvironmentStore<'_> {
    /// The environment's id.
    pub(super) fn id(&self) -> &EnvironmentId {
        self.scope.environment_id()
    }

    /// The environment's account.
    pub(super) fn account_id(&self) -> &AccountId {
        self.scope.account_id()
    }

    fn tenant<E: EnvironmentOwned>(&self) -> SimpleExpr {
        E::environment_column().eq(self.id().as_str())
    }

    /// `E`'s rows of this environment.
    pub(super) fn select<E: EnvironmentOwned>(&self) -> Select<E> {
        E::find().filter(self.tenant::<E>())
    }

    /// An update of `E`'s rows of this environment.
    pub(super) fn update<E: EnvironmentOwned>(&self) -> UpdateMany<E> {
        E::update_many().filter(self.tenant::<E>())
    }

    /// A delete of `E`'s rows of this environment.
    pub(super) fn delete<E: EnvironmentOwned>(&self) -> DeleteMany<E> {
        E::delete_many().filter(self.tenant::<E>())
    }

    /// The environment's `E` whose `column` is `value`, or NOT_FOUND
    /// naming `what`.
    pub(super) async fn one<E: EnvironmentOwned>(
        &self,
        db: &impl ConnectionTrait,
        column: E::Column,
        value: &str,
        what: &'static str,
    ) -> Result<E::Model>
    where
        E::Model: Send + Sync,
    {
        self.select::<E>()
            .filter(column.eq(value))
            .one(db)
            .await?
            .ok_or(Error::NotFound(what))
    }
}

impl AccountStore<'_> {
    /// One of the account's environments, or NOT_FOUND.
    pub(super) async fn find_environment(
        &self,
        db: &impl ConnectionTrait,
        id: &EnvironmentId,
    ) -> Result<OwnedEnvironment> {
        self.environment_row(db, id, false).await
    }

    /// Like [`AccountStore::find_environment`], and locks the row until
    /// the transaction ends (PostgreSQL `FOR UPDATE`; SQLite has one writer
    /// at a time anyway). Every change to an environment's keys, and its
    /// deletion, takes this lock first, so they are serialized per
    /// environment: two rotations cannot both leave their pair working,
    /// the key cap is hard, and a data write racing a delete either lands
    /// before it or fails NOT_FOUND.
    pub(super) async fn lock_environment(
        &self,
        db: &impl ConnectionTrait,
        id: &EnvironmentId,
    ) -> Result<OwnedEnvironment> {
        self.environment_row(db, id, true).await
    }

    async fn environment_row(
        &self,
        db: &impl ConnectionTrait,
        id: &EnvironmentId,
        lock: bool,
    ) -> Result<OwnedEnvironment> {
        let mut query = self
            .select::<environment::Entity>()
            .filter(environment::Column::Id.eq(id.as_str()));
        if lock {
            query = query.lock_exclusive();
        }
        query
            .one(db)
            .await?
            .map(OwnedEnvironment)
            .ok_or(Error::NotFound("environment"))
    }
}
