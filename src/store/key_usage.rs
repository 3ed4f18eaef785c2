//! `key_usage`: per key and UTC hour, what the key did — calls it
//! authenticated, calls refused by reason, user tokens minted.
//!
//! Replicas count in memory (see `crate::auth::usage_counters`) and add their counts
//! to the rows with one `INSERT … ON CONFLICT DO UPDATE SET n = n +
//! excluded.n` per flush, so a row is the sum over every replica. Reads go
//! through the account's handle: the key or environment must be the
//! account's, and rows are then read by the environment they belong to.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};

use super::Store;
use super::entity::{api_key, key_usage};
use super::tenant::AccountStore;
use super::write::Op;
use crate::domain::ids::{EnvironmentId, KeyId};
use crate::error::{Error, Result};

/// One hour, µs: the stored bucket.
pub const HOUR_MICROS: i64 = 3_600_000_000;

/// Rows per `INSERT` statement: 9 bound values each, well under SQLite's
/// and PostgreSQL's limits on parameters.
const ROWS_PER_STATEMENT: usize = 1_000;

/// The start of the UTC hour holding `micros`.
pub fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS) * HOUR_MICROS
}

/// What a key did in some period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Calls the key authenticated.
    pub success: i64,
    /// Refused: the key (or the key that minted the user token) was revoked.
    pub revoked: i64,
    /// Refused: the key had expired.
    pub expired: i64,
    /// Refused: outside the key's networks.
    pub not_allowed_network: i64,
    /// Refused: a restricted key without the RPC's permission.
    pub permission_denied: i64,
    /// User tokens the key minted.
    pub minted: i64,
}

impl UsageCounts {
    /// The refusals, all reasons together.
    pub fn failures(&self) -> i64 {
        self.revoked + self.expired + self.not_allowed_network + self.permission_denied
    }

    /// Whether nothing was counted.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

impl std::ops::AddAssign for UsageCounts {
    fn add_assign(&mut self, other: Self) {
        self.success += other.success;
        self.revoked += other.revoked;
        self.expired += other.expired;
        self.not_allowed_network += other.not_allowed_network;
        self.permission_denied += other.permission_denied;
        self.minted += other.minted;
    }
}

impl From<&key_usage::Model> for UsageCounts {
    fn from(row: &key_usage::Model) -> Self {
        Self {
            success: row.success_count,
            revoked: row.revoked_count,
            expired: row.expired_count,
            not_allowed_network: row.not_allowed_network_count,
            permission_denied: row.permission_denied_count,
            minted: row.minted_token_count,
        }
    }
}

/// Counts of one key to add to one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageDelta {
    /// The key, `key_…`.
    pub key_id: String,
    /// Its environment.
    pub environment_id: String,
    /// What to add.
    pub counts: UsageCounts,
}

/// The counter columns, in [`UsageCounts`] order.
const COUNTERS: [key_usage::Column; 6] = [
    key_usage::Column::SuccessCount,
    key_usage::Column::RevokedCount,
    key_usage::Column::ExpiredCount,
    key_usage::Column::NotAllowedNetworkCount,
    key_usage::Column::PermissionDeniedCount,
    key_usage::Column::MintedTokenCount,
];

impl Store {
    /// Adds `deltas` to the hour starting at `bucket_start` (µs), in one
    /// transaction of multi-row upserts: all of it is added, or none.
    pub async fn add_key_usage(&self, bucket_start: i64, deltas: &[UsageDelta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut conflict =
            OnConflict::columns([key_usage::Column::KeyId, key_usage::Column::BucketStart]);
        for column in COUNTERS {
            // n = key_usage.n + excluded.n: every replica's counts add up.
            let sum = Expr::col((key_usage::Entity, column))
                .add(Expr::col((Alias::new("excluded"), column)));
            conflict.value(column, sum);
        }
        let conflict = &conflict;
        self.write(Op::AddKeyUsage, |w| {
            Box::pin(async move {
                let tx = w.db();
                for chunk in deltas.chunks(ROWS_PER_STATEMENT) {
                    let rows = chunk.iter().map(|d| key_usage::ActiveModel {
                        key_id: Set(d.key_id.clone()),
                        bucket_start: Set(bucket_start),
                        environment_id: Set(d.environment_id.clone()),
                        success_count: Set(d.counts.success),
                        revoked_count: Set(d.counts.revoked),
                        expired_count: Set(d.counts.expired),
                        not_allowed_network_count: Set(d.counts.not_allowed_network),
                        permission_denied_count: Set(d.counts.permission_denied),
                        minted_token_count: Set(d.counts.minted),
                    });
                    key_usage::Entity::insert_many(rows)
                        .on_conflict(conflict.clone())
                        .exec_without_returning(tx)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }
}

/// Summed counters of a group of rows.
#[derive(Debug, FromQueryResult)]
struct Summed {
    group: String,
    success: Option<i64>,
}

/// Summed counters of one hour of an environment.
#[derive(Debug, FromQueryResult)]
struct HourSums {
    bucket_start: i64,
    success: Option<i64>,
    revoked: Option<i64>,
    expired: Option<i64>,
    not_allowed_network: Option<i64>,
    permission_denied: Option<i64>,
    minted: Option<i64>,
}

impl AccountStore<'_> {
    /// The hours of `key_id` (a key of one of the account's environments,
    /// else NOT_FOUND) in [`start`, `end`) µs that have counts, oldest first.
    pub async fn key_usage(
        &self,
        key_id: &KeyId,
        start: i64,
        end: i64,
    ) -> Result<BTreeMap<i64, UsageCounts>> {
        let key = self
            .select::<api_key::Entity>()
            .filter(api_key::Column::Id.eq(key_id.as_str()))
            .one(&self.store.read)
            .await?
            .ok_or(Error::NotFound("key"))?;
        let env = self
            .find_environment(
                &self.store.read,
                &EnvironmentId::from_stored(key.environment_id),
            )
            .await?;
        let rows = self
            .select_in::<key_usage::Entity>(&env)
            .filter(key_usage::Column::KeyId.eq(key.id))
            .filter(key_usage::Column::BucketStart.gte(start))
            .filter(key_usage::Column::BucketStart.lt(end))
            .all(&self.store.read)
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.bucket_start, UsageCounts::from(row)))
            .collect())
    }

    /// The hours of an environment of the account (else NOT_FOUND) in
    /// [`start`, `end`) µs, summed over its keys, oldest first.
    pub async fn environment_usage(
        &self,
        environment_id: &EnvironmentId,
        start: i64,
        end: i64,
    ) -> Result<BTreeMap<i64, UsageCounts>> {
        use key_usage::Column as C;
        let env = self
            .find_environment(&self.store.read, environment_id)
            .await?;
        // PostgreSQL sums BIGINTs as NUMERIC: back to BIGINT.
        let sum = |column: C| {
            Expr::from(Func::cast_as(
                Func::sum(Expr::col(column)),
                Alias::new("BIGINT"),
            ))
        };
        let rows = self
            .select_in::<key_usage::Entity>(&env)
            .filter(C::BucketStart.gte(start))
            .filter(C::BucketStart.lt(end))
            .select_only()
            .column(C::BucketStart)
            .column_as(sum(C::SuccessCount), "success")
            .column_as(sum(C::RevokedCount), "revoked")
            .column_as(sum(C::ExpiredCount), "expired")
            .column_as(sum(C::NotAllowedNetworkCount), "not_allowed_network")
            .column_as(sum(C::PermissionDeniedCount), "permission_denied")
            .column_as(sum(C::MintedTokenCount), "minted")
            .group_by(C::BucketStart)
            .into_model::<HourSums>()
            .all(&self.store.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let counts = UsageCounts {
                    success: r.success.unwrap_or_default(),
                    revoked: r.revoked.unwrap_or_default(),
                    expired: r.expired.unwrap_or_default(),
                    not_allowed_network: r.not_allowed_network.unwrap_or_default(),
                    permission_denied: r.permission_denied.unwrap_or_default(),
                    minted: r.minted.unwrap_or_default(),
                };
                (r.bucket_start, counts)
            })
            .collect())
    }

    /// Successful authentications since `since` (µs) of the given keys of
    /// one of the account's environments, in one query; keys without any
    /// are absent.
    pub async fn success_counts_since(
        &self,
        environment_id: &EnvironmentId,
        key_ids: &[&str],
        since: i64,
    ) -> Result<HashMap<String, i64>> {
        use key_usage::Column as C;
        if key_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let env = self
            .find_environment(&self.store.read, environment_id)
            .await?;
        let rows = self
            .select_in::<key_usage::Entity>(&env)
            .filter(C::KeyId.is_in(key_ids.iter().copied()))
            .filter(C::BucketStart.gte(since))
            .select_only()
            .column_as(C::KeyId, "group")
            .column_as(
                Expr::from(Func::cast_as(
                    Func::sum(Expr::col(C::SuccessCount)),
                    Alias::new("BIGINT"),
                )),
                "success",
            )
            .group_by(C::KeyId)
            .into_model::<Summed>()
            .all(&self.store.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.group, r.success.unwrap_or_default()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_down_in_utc() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_MICROS - 1), 0);
        assert_eq!(hour_of(HOUR_MICROS), HOUR_MICROS);
        assert_eq!(hour_of(-1), -HOUR_MICROS);
    }
}
