//! Credential lookup for the auth layer: hash → stored record.
//!
//! The environment (or account) comes from the stored row, never from the
//! credential's text.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Store;
use super::entity::{admin_token, api_key};
use crate::auth::credential::{CredentialKind, ParsedCredential, hash_hex};
use crate::error::Result;

/// What a credential resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRecord {
    /// The key id (`key_…`) or admin token id (`adm_…`).
    pub id: String,
    /// The credential's kind.
    pub kind: CredentialKind,
    /// The account it belongs to.
    pub account_id: String,
    /// The environment, for API keys.
    pub environment_id: Option<String>,
    /// When it stops (or stopped) working — revoked or expired — µs.
    pub revoke_time: Option<i64>,
}

/// Finds the record of a well-formed credential; `None` if unknown.
pub async fn lookup(store: &Store, cred: &ParsedCredential) -> Result<Option<CredentialRecord>> {
    let hash = hash_hex(&cred.hash);
    if cred.kind == CredentialKind::Admin {
        let row = admin_token::Entity::find()
            .filter(admin_token::Column::TokenHash.eq(hash))
            .one(store.reader())
            .await?;
        return Ok(row.map(|t| CredentialRecord {
            id: t.id,
            kind: CredentialKind::Admin,
            account_id: t.account_id,
            environment_id: None,
            revoke_time: t.revoke_time,
        }));
    }
    let row = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash))
        .one(store.reader())
        .await?;
    Ok(row.and_then(|k| {
        let end = k.end_time();
        let kind = match k.kind.as_str() {
            api_key::KIND_PUBLISHABLE => CredentialKind::Publishable,
            api_key::KIND_SECRET => CredentialKind::Secret,
            _ => return None,
        };
        // A hash of one kind stored under another cannot be ours.
        (kind == cred.kind).then_some(CredentialRecord {
            id: k.id,
            kind,
            account_id: k.account_id,
            revoke_time: end,
            environment_id: Some(k.environment_id),
        })
    }))
}

/// An API key's environment and revocation time (possibly in the future).
pub async fn key_state(store: &Store, key_id: &str) -> Result<Option<(String, Option<i64>)>> {
    let row = api_key::Entity::find()
        .filter(api_key::Column::Id.eq(key_id))
        .one(store.reader())
        .await?;
    Ok(row.map(|k| {
        let end = k.end_time();
        (k.environment_id, end)
    }))
}

/// Writes `last_use_time` for credentials that authenticated calls, one
/// statement per table and distinct time.
pub async fn record_use(store: &Store, used: &[(Box<str>, CredentialKind, i64)]) -> Result<()> {
    use sea_orm::sea_query::Expr;
    let latest = used.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
    let ids = |admin: bool| -> Vec<String> {
        let distinct: std::collections::BTreeSet<&str> = used
            .iter()
            .filter(|(_, kind, _)| (*kind == CredentialKind::Admin) == admin)
            .map(|(id, _, _)| &**id)
            .collect();
        distinct.into_iter().map(str::to_owned).collect()
    };
    let (admins, keys) = (ids(true), ids(false));
    if !admins.is_empty() {
        admin_token::Entity::update_many()
            .col_expr(admin_token::Column::LastUseTime, Expr::value(latest))
            .filter(admin_token::Column::Id.is_in(admins))
            .exec(store.writer())
            .await?;
    }
    if !keys.is_empty() {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUseTime, Expr::value(latest))
            .filter(api_key::Column::Id.is_in(keys))
            .exec(store.writer())
            .await?;
    }
    Ok(())
}
