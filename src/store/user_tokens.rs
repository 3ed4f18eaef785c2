//! Revoking a user's tokens: a per-user "not before" instant, persisted so
//! it survives restarts and is read by every replica.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::audit::{self, Subject};
use super::entity::{environment, user_token_revocation};
use super::revocation::UserRevocation;
use super::tenant::EnvironmentStore;
use super::write::Op;
use super::write::Revoked;
use crate::domain::audit::{Actor, EventType};
use crate::domain::names::ResourceId;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

impl EnvironmentStore<'_> {
    /// Ends every token of `user_id` issued before now: the line is drawn
    /// at this instant (µs), and always after the user's previous line, so
    /// a token issued between two revocations — even within one second, or
    /// on a replica whose clock is behind — is before the second one. The
    /// minting path never issues this user a token before the line (see
    /// `crate::auth::tokens::Claims::issued_micros`). NOT_FOUND if the
    /// environment was deleted. Audited as `user_tokens.revoked`.
    pub async fn revoke_user_tokens(
        &self,
        user_id: &ResourceId,
        actor: &Actor,
    ) -> Result<Revoked<UserRevocation>> {
        self.store
            .write_revoking(Op::RevokeUserTokens, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    // Serialized with a concurrent DeleteEnvironment, which locks the
                    // row first: either this lands before it (and is deleted with the
                    // environment) or finds nothing.
                    self.select::<environment::Entity>()
                        .lock_exclusive()
                        .one(tx)
                        .await?
                        .ok_or(Error::NotFound("environment"))?;
                    let previous = self
                        .select::<user_token_revocation::Entity>()
                        .filter(user_token_revocation::Column::UserId.eq(user_id.as_str()))
                        .one(tx)
                        .await?
                        .map(|row| row.not_before);
                    let not_before = previous.map_or(now_micros(), |p| now_micros().max(p + 1));
                    let row = user_token_revocation::ActiveModel {
                        environment_id: Set(self.id().as_str().to_owned()),
                        user_id: Set(user_id.as_str().to_owned()),
                        account_id: Set(self.account_id().as_str().to_owned()),
                        not_before: Set(not_before),
                    };
                    user_token_revocation::Entity::insert(row)
                        .on_conflict(
                            OnConflict::columns([
                                user_token_revocation::Column::EnvironmentId,
                                user_token_revocation::Column::UserId,
                            ])
                            .update_column(user_token_revocation::Column::NotBefore)
                            .to_owned(),
                        )
                        .exec_without_returning(tx)
                        .await?;
                    let subject = Subject::environment(
                        self.account_id().as_str(),
                        self.id().as_str(),
                        user_id.as_str(),
                    );
                    let details = [("not_before", not_before.to_string())];
                    audit::record_with(tx, actor, EventType::UserTokensRevoked, subject, &details)
                        .await?;
                    let revoked = UserRevocation {
                        environment_id: self.id().as_str().to_owned(),
                        user_id: user_id.as_str().to_owned(),
                        not_before,
                    };
                    pending.users.push(revoked.clone());
                    Ok(revoked)
                })
            })
            .await
    }

    /// The instant (seconds) before which `user_id`'s tokens are refused;
    /// `None` if they were never revoked.
    pub async fn user_tokens_not_before(&self, user_id: &str) -> Result<Option<i64>> {
        Ok(self
            .select::<user_token_revocation::Entity>()
            .filter(user_token_revocation::Column::UserId.eq(user_id))
            .one(&self.store.read)
            .await?
            .map(|row| row.not_before))
    }
}
