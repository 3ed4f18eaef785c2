//! Credential lookup for the auth layer: hash → stored record. These are
//! the only queries that run before a tenant is known; they return the
//! tenant, read from the stored row, never from the credential's text.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Store;
use super::entity::{account, admin_token, api_key, member, session};
use super::write::Op;
use crate::domain::credential::{CredentialKind, ParsedCredential};
use crate::domain::ids::MemberId;
use crate::domain::networks::Networks;
use crate::domain::permissions::Permissions;
use std::sync::Arc;

use crate::domain::roles::{AccountProfile, Environments, Grant, MemberIdentity, Role};
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
    /// When it expires by itself, µs (tells an expiry from a revocation).
    pub expire_time: Option<i64>,
    /// Restricted keys: what they may do; `None`: all their kind allows.
    pub permissions: Option<Permissions>,
    /// Where the credential may be used from (empty: anywhere).
    pub networks: Networks,
    /// Admin credentials (tokens and sessions): role and environment scope.
    pub grant: Option<Grant>,
    /// Sessions: the member signed in.
    pub member: Option<Arc<MemberIdentity>>,
    /// Admin credentials: their account.
    pub account: Option<Arc<AccountProfile>>,
}

/// An API key's environment and end (revocation or expiry, possibly in
/// the future).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    /// The key's environment.
    pub environment_id: String,
    /// When it stops (or stopped) working, µs.
    pub end_time: Option<i64>,
}

/// A credential that authenticated a call, for `last_use_time`.
#[derive(Clone, Debug)]
pub struct Use {
    /// The key or admin token id.
    pub id: Box<str>,
    /// Its kind (which table).
    pub kind: CredentialKind,
    /// When, µs.
    pub at: i64,
}

impl Store {
    /// Finds the record of a well-formed credential; `None` if unknown.
    pub async fn lookup_credential(
        &self,
        cred: &ParsedCredential,
    ) -> Result<Option<CredentialRecord>> {
        let hash = cred.hash.to_hex();
        match cred.kind {
            CredentialKind::Admin => {
                let row = admin_token::Entity::find()
                    .filter(admin_token::Column::TokenHash.eq(hash))
                    .one(&self.read)
                    .await?;
                let Some(t) = row else {
                    return Ok(None);
                };
                let account = self.account_profile(&t.account_id).await?;
                return Ok(Some(CredentialRecord {
                    account,
                    grant: Some(Grant {
                        role: Role::from_stored(&t.role),
                        environments: Environments::from_stored(t.environment_ids.as_deref()),
                    }),
                    member: None,
                    id: t.id,
                    kind: CredentialKind::Admin,
                    account_id: t.account_id,
                    environment_id: None,
                    revoke_time: crate::domain::time::earliest(t.revoke_time, t.expire_time),
                    expire_time: t.expire_time,
                    permissions: None,
                    networks: Networks::default(),
                }));
            }
            CredentialKind::Session => return self.lookup_session(&hash).await,
            // An invitation authenticates no call.
            CredentialKind::Invite => return Ok(None),
            _ => {}
        }
        let row = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(hash))
            .one(&self.read)
            .await?;
        Ok(row.and_then(|k| {
            let end = k.end_time();
            let kind = k.kind;
            // A hash of one kind stored under another cannot be ours.
            (kind == cred.kind).then(|| CredentialRecord {
                id: k.id,
                kind,
                account_id: k.account_id,
                revoke_time: end,
                expire_time: k.expire_time,
                environment_id: Some(k.environment_id),
                // A restricted key without a readable list may do nothing.
                permissions: (kind == CredentialKind::Restricted)
                    .then(|| Permissions::from_stored(k.permissions.as_deref().unwrap_or(""))),
                networks: Networks::from_stored(k.allowed_cidrs.as_deref()),
                grant: None,
                member: None,
                account: None,
            })
        }))
    }

    /// A session's record: the member's current role and scope (read at
    /// every load, so a change reaches the session when caches re-read).
    /// A removed member's sessions are gone with it.
    async fn lookup_session(&self, hash: &str) -> Result<Option<CredentialRecord>> {
        let Some(row) = session::Entity::find()
            .filter(session::Column::TokenHash.eq(hash))
            .one(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let Some(m) = member::Entity::find()
            .filter(member::Column::Id.eq(row.member_id.as_str()))
            .one(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let account = self.account_profile(&row.account_id).await?;
        Ok(Some(CredentialRecord {
            account,
            id: row.id,
            kind: CredentialKind::Session,
            account_id: row.account_id,
            environment_id: None,
            revoke_time: Some(row.expire_time),
            expire_time: Some(row.expire_time),
            permissions: None,
            networks: Networks::default(),
            grant: Some(Grant {
                role: Role::from_stored(&m.role),
                environments: Environments::from_stored(m.environment_ids.as_deref()),
            }),
            member: Some(Arc::new(MemberIdentity {
                id: MemberId::from_stored(m.id),
                email: m.email,
                display_name: m.display_name,
                create_time: m.create_time,
                last_sign_in_time: m.last_sign_in_time,
                totp_enabled: m.totp_secret.is_some(),
            })),
        }))
    }

    /// The account of an admin credential (`None` if it is gone).
    async fn account_profile(&self, account_id: &str) -> Result<Option<Arc<AccountProfile>>> {
        let row = account::Entity::find()
            .filter(account::Column::Id.eq(account_id))
            .one(&self.read)
            .await?;
        Ok(row.map(|a| {
            Arc::new(AccountProfile {
                display_name: a.display_name,
                create_time: a.create_time,
            })
        }))
    }

    /// An API key's environment and end; `None` if there is no such key.
    pub async fn key_state(&self, key_id: &str) -> Result<Option<KeyState>> {
        let row = api_key::Entity::find()
            .filter(api_key::Column::Id.eq(key_id))
            .one(&self.read)
            .await?;
        Ok(row.map(|k| KeyState {
            end_time: k.end_time(),
            environment_id: k.environment_id,
        }))
    }

    /// Writes `last_use_time` for credentials that authenticated calls, one
    /// statement per table and distinct time.
    pub async fn record_use(&self, used: &[Use]) -> Result<()> {
        use sea_orm::sea_query::Expr;
        let latest = used.iter().map(|u| u.at).max().unwrap_or_default();
        let ids = |admin: bool| -> Vec<String> {
            let distinct: std::collections::BTreeSet<&str> = used
                .iter()
                .filter(|u| u.kind != CredentialKind::Session)
                .filter(|u| (u.kind == CredentialKind::Admin) == admin)
                .map(|u| &*u.id)
                .collect();
            distinct.into_iter().map(str::to_owned).collect()
        };
        let (admins, keys) = (ids(true), ids(false));
        if admins.is_empty() && keys.is_empty() {
            return Ok(());
        }
        let (admins, keys) = (&admins, &keys);
        self.write(Op::RecordUse, |w| {
            Box::pin(async move {
                if !admins.is_empty() {
                    admin_token::Entity::update_many()
                        .col_expr(admin_token::Column::LastUseTime, Expr::value(latest))
                        .filter(admin_token::Column::Id.is_in(admins.iter().map(String::as_str)))
                        .exec(w.db())
                        .await?;
                }
                if !keys.is_empty() {
                    api_key::Entity::update_many()
                        .col_expr(api_key::Column::LastUseTime, Expr::value(latest))
                        .filter(api_key::Column::Id.is_in(keys.iter().map(String::as_str)))
                        .exec(w.db())
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }
}
