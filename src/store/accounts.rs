//! Accounts and admin tokens.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter,
};

use super::audit::{self, Subject};
use super::entity::{account, admin_token};
use super::paging::fetch_records;
use super::revocation::DeadCredential;
use super::tenant::AccountStore;
use super::write::Op;
use super::write::Revoked;
use super::{Page, Store};
use crate::domain::audit::{Actor, EventType};
use crate::domain::credential::{self, CredentialKind};
use crate::domain::ids::{AccountId, AdminTokenId};
use crate::domain::page::PageRequest;
use crate::domain::records::{Account, AdminToken};
use crate::domain::roles::Grant;
use crate::domain::secret::Secret;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// A new account and its first admin token (plaintext, shown once).
#[derive(Debug)]
pub struct NewAccount {
    /// The account.
    pub account: Account,
    /// The token's record.
    pub admin_token: AdminToken,
    /// The token's plaintext.
    pub token: Secret,
}

/// A new admin token (plaintext, shown once).
#[derive(Debug)]
pub struct NewAdminToken {
    /// The token's record.
    pub admin_token: AdminToken,
    /// The token's plaintext.
    pub token: Secret,
}

/// What a new admin token may do, and until when.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    /// Role and environment scope.
    pub grant: Grant,
    /// When it expires, µs; `None`: never.
    pub expire_time: Option<i64>,
}

impl TokenGrant {
    /// An owner of the whole account, for ever: an account's first token
    /// and offline recovery.
    pub fn owner() -> Self {
        Self {
            grant: Grant::owner(),
            expire_time: None,
        }
    }
}

/// Number of accounts.
pub(super) async fn count(db: &impl ConnectionTrait) -> Result<u64> {
    Ok(account::Entity::find().count(db).await?)
}

impl Store {
    /// Number of accounts.
    pub async fn count_accounts(&self) -> Result<u64> {
        count(&self.read).await
    }

    /// Creates an account with its first admin token, in one transaction
    /// (`pulse account create`: an operator with database access).
    pub async fn create_account(&self, display_name: &str, actor: &Actor) -> Result<NewAccount> {
        self.write(Op::CreateAccount, |w| {
            Box::pin(create_account_in(w.db(), display_name, actor))
        })
        .await
    }

    /// Offline recovery (`pulse account token create`): a new admin token
    /// for the account `account_id`, for an operator with database access
    /// whose account revoked its last token. NOT_FOUND if no such account.
    pub async fn recover_admin_token(
        &self,
        account_id: &AccountId,
        display_name: &str,
        actor: &Actor,
    ) -> Result<NewAdminToken> {
        self.write(Op::RecoverAdminToken, |w| {
            Box::pin(async move {
                let tx = w.db();
                let account = account::Entity::find()
                    .filter(account::Column::Id.eq(account_id.as_str()))
                    .one(tx)
                    .await?
                    .ok_or(Error::NotFound("account"))?;
                let id = AccountId::from_stored(account.id);
                let created =
                    insert_admin_token(tx, &id, display_name, &TokenGrant::owner(), actor).await?;
                Ok(created)
            })
        })
        .await
    }
}

/// Creates an account with its first admin token, in the transaction `tx`
/// (the write helper's, or start-up's migration transaction).
pub(super) async fn create_account_in(
    tx: &impl ConnectionTrait,
    display_name: &str,
    actor: &Actor,
) -> Result<NewAccount> {
    let now = now_micros();
    let id = AccountId::generate();
    let account = account::ActiveModel {
        id: Set(id.as_str().to_owned()),
        display_name: Set(display_name.to_owned()),
        create_time: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    let subject = Subject::account(&id, &account.id);
    audit::record(tx, actor, EventType::AccountCreated, subject).await?;
    let NewAdminToken { admin_token, token } =
        insert_admin_token(tx, &id, "first token", &TokenGrant::owner(), actor).await?;
    Ok(NewAccount {
        account: account.into(),
        admin_token,
        token,
    })
}

async fn insert_admin_token(
    db: &impl ConnectionTrait,
    account_id: &AccountId,
    display_name: &str,
    grant: &TokenGrant,
    actor: &Actor,
) -> Result<NewAdminToken> {
    let cred = credential::generate(CredentialKind::Admin);
    let model = admin_token::ActiveModel {
        id: Set(AdminTokenId::generate().into_string()),
        account_id: Set(account_id.as_str().to_owned()),
        display_name: Set(display_name.to_owned()),
        prefix: Set(cred.display_prefix.clone()),
        token_hash: Set(cred.hash.to_hex()),
        create_time: Set(now_micros()),
        revoke_time: Set(None),
        last_use_time: Set(None),
        role: Set(grant.grant.role.as_str().to_owned()),
        environment_ids: Set(grant.grant.environments.to_stored()),
        expire_time: Set(grant.expire_time),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let subject = Subject::account(account_id, &model.id);
    let details = [("role", model.role.clone())];
    audit::record_with(db, actor, EventType::AdminTokenCreated, subject, &details).await?;
    Ok(NewAdminToken {
        admin_token: model.into(),
        token: cred.plaintext,
    })
}

impl AccountStore<'_> {
    /// The account.
    pub async fn get(&self) -> Result<Account> {
        self.select::<account::Entity>()
            .one(&self.store.read)
            .await?
            .map(Into::into)
            .ok_or(Error::NotFound("account"))
    }

    /// Creates an admin token for the account with `grant` (already checked
    /// against the caller's: no escalation).
    pub async fn create_admin_token(
        &self,
        display_name: &str,
        grant: &TokenGrant,
        actor: &Actor,
    ) -> Result<NewAdminToken> {
        self.store
            .write(Op::CreateAdminToken, |w| {
                Box::pin(async move {
                    let tx = w.db();
                    let created =
                        insert_admin_token(tx, self.id(), display_name, grant, actor).await?;
                    Ok(created)
                })
            })
            .await
    }

    /// One page of the account's admin tokens, oldest first.
    pub async fn list_admin_tokens(&self, page: &PageRequest) -> Result<Page<AdminToken>> {
        let query = self.select::<admin_token::Entity>();
        fetch_records(&self.store.read, query, admin_token::Column::Seq, page).await
    }

    /// Revokes one of the account's admin tokens (idempotent: revoking a
    /// revoked token returns it and revokes nothing).
    pub async fn revoke_admin_token(
        &self,
        id: &AdminTokenId,
        actor: &Actor,
    ) -> Result<Revoked<AdminToken>> {
        self.store
            .write_revoking(Op::RevokeAdminToken, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let token = self
                        .select::<admin_token::Entity>()
                        .filter(admin_token::Column::Id.eq(id.as_str()))
                        .one(tx)
                        .await?
                        .ok_or(Error::NotFound("admin token"))?;
                    let token = if token.revoke_time.is_some() {
                        token
                    } else {
                        let mut active: admin_token::ActiveModel = token.into();
                        active.revoke_time = Set(Some(now_micros()));
                        let token = active.update(tx).await?;
                        let subject = Subject::account(self.id(), &token.id);
                        audit::record(tx, actor, EventType::AdminTokenRevoked, subject).await?;
                        pending
                            .dead
                            .push(DeadCredential::stored(&token.id, &token.token_hash)?);
                        token
                    };
                    Ok(AdminToken::from(token))
                })
            })
            .await
    }
}
