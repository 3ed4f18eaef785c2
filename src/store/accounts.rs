//! Accounts and admin tokens.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionSession, TransactionTrait,
};

use super::Store;
use super::audit::{self, Subject};
use super::entity::{account, admin_token};
use super::paging::fetch_page;
use crate::auth::credential::{self, CredentialKind, hash_hex};
use crate::cluster::Notice;
use crate::domain::audit::{Actor, EventType};
use crate::domain::ids::{IdKind, new_id};
use crate::domain::page::PageRequest;
use crate::domain::scope::AccountScope;
use crate::domain::secret::Secret;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// A new account and its first admin token (plaintext, shown once).
#[derive(Debug)]
pub struct NewAccount {
    /// The account.
    pub account: account::Model,
    /// The token's record.
    pub admin_token: admin_token::Model,
    /// The token's plaintext.
    pub token: Secret,
}

/// A new admin token (plaintext, shown once).
#[derive(Debug)]
pub struct NewAdminToken {
    /// The token's record.
    pub admin_token: admin_token::Model,
    /// The token's plaintext.
    pub token: Secret,
}

/// Number of accounts.
pub async fn count(db: &impl ConnectionTrait) -> Result<u64> {
    Ok(account::Entity::find().count(db).await?)
}

/// Creates an account with its first admin token, in one transaction.
pub async fn create_account(
    store: &Store,
    display_name: &str,
    actor: &Actor,
) -> Result<NewAccount> {
    create_account_in(store.writer(), display_name, actor).await
}

/// Creates an account with its first admin token, in a transaction (or
/// savepoint) of `db`.
pub(crate) async fn create_account_in<C>(
    db: &C,
    display_name: &str,
    actor: &Actor,
) -> Result<NewAccount>
where
    C: ConnectionTrait + TransactionTrait,
{
    let now = now_micros();
    let tx = db.begin().await?;
    let account = account::ActiveModel {
        id: Set(new_id(IdKind::Account)),
        display_name: Set(display_name.to_owned()),
        create_time: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let scope = AccountScope::new(account.id.clone());
    audit::record(
        &tx,
        actor,
        EventType::AccountCreated,
        Subject {
            account_id: &account.id,
            environment_id: None,
            target_id: &account.id,
        },
    )
    .await?;
    let NewAdminToken { admin_token, token } =
        insert_admin_token(&tx, &scope, "first token", actor).await?;
    tx.commit().await?;
    Ok(NewAccount {
        account,
        admin_token,
        token,
    })
}

/// The scope's account.
pub async fn get_account(store: &Store, scope: &AccountScope) -> Result<account::Model> {
    account::Entity::find()
        .filter(account::Column::Id.eq(scope.account_id()))
        .one(store.reader())
        .await?
        .ok_or(Error::NotFound("account"))
}

/// Creates an admin token for the scope's account.
pub async fn create_admin_token(
    store: &Store,
    scope: &AccountScope,
    display_name: &str,
    actor: &Actor,
) -> Result<NewAdminToken> {
    let tx = store.writer().begin().await?;
    let created = insert_admin_token(&tx, scope, display_name, actor).await?;
    tx.commit().await?;
    Ok(created)
}

/// Offline recovery (`pulse account token create`): a new admin token for
/// the account `account_id`, found by id, for an operator with database
/// access whose account revoked its last token. NOT_FOUND if no such account.
pub async fn recover_admin_token(
    store: &Store,
    account_id: &str,
    display_name: &str,
    actor: &Actor,
) -> Result<NewAdminToken> {
    let tx = store.writer().begin().await?;
    let account = account::Entity::find()
        .filter(account::Column::Id.eq(account_id))
        .one(&tx)
        .await?
        .ok_or(Error::NotFound("account"))?;
    let scope = AccountScope::new(account.id);
    let created = insert_admin_token(&tx, &scope, display_name, actor).await?;
    tx.commit().await?;
    Ok(created)
}

async fn insert_admin_token(
    db: &impl ConnectionTrait,
    scope: &AccountScope,
    display_name: &str,
    actor: &Actor,
) -> Result<NewAdminToken> {
    let cred = credential::generate(CredentialKind::Admin);
    let model = admin_token::ActiveModel {
        id: Set(new_id(IdKind::AdminToken)),
        account_id: Set(scope.account_id().to_owned()),
        display_name: Set(display_name.to_owned()),
        prefix: Set(cred.display_prefix.clone()),
        token_hash: Set(hash_hex(&cred.hash)),
        create_time: Set(now_micros()),
        revoke_time: Set(None),
        last_use_time: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    audit::record(
        db,
        actor,
        EventType::AdminTokenCreated,
        Subject {
            account_id: scope.account_id(),
            environment_id: None,
            target_id: &model.id,
        },
    )
    .await?;
    Ok(NewAdminToken {
        admin_token: model,
        token: cred.plaintext,
    })
}

/// One page of the scope's admin tokens, oldest first.
pub async fn list_admin_tokens(
    store: &Store,
    scope: &AccountScope,
    page: &PageRequest,
) -> Result<(Vec<admin_token::Model>, String)> {
    let query =
        admin_token::Entity::find().filter(admin_token::Column::AccountId.eq(scope.account_id()));
    fetch_page(store.reader(), query, admin_token::Column::Seq, page).await
}

/// Revokes one of the scope's admin tokens (idempotent). Returns the token
/// and whether this call revoked it.
pub async fn revoke_admin_token(
    store: &Store,
    scope: &AccountScope,
    id: &str,
    actor: &Actor,
    notice: Notice<'_>,
) -> Result<(admin_token::Model, bool)> {
    let tx = store.writer().begin().await?;
    let token = admin_token::Entity::find()
        .filter(admin_token::Column::AccountId.eq(scope.account_id()))
        .filter(admin_token::Column::Id.eq(id))
        .one(&tx)
        .await?
        .ok_or(Error::NotFound("admin token"))?;
    if token.revoke_time.is_some() {
        return Ok((token, false));
    }
    let mut active: admin_token::ActiveModel = token.into();
    active.revoke_time = Set(Some(now_micros()));
    let token = active.update(&tx).await?;
    audit::record(
        &tx,
        actor,
        EventType::AdminTokenRevoked,
        Subject {
            account_id: scope.account_id(),
            environment_id: None,
            target_id: &token.id,
        },
    )
    .await?;
    notice
        .publish(&tx, &[(token.id.clone(), token.token_hash.clone())])
        .await?;
    tx.commit().await?;
    Ok((token, true))
}
