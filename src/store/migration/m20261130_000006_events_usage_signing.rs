//! Events, usage and signing-key rotation.
//!
//! - `key_usage`: one row per (key, hour) with counters that every replica
//!   adds its in-memory counts to (`INSERT … ON CONFLICT DO UPDATE SET
//!   n = n + excluded.n`), so the sum over replicas is the row. Deleted
//!   with its environment.
//! - `signing_keys`: an environment may now have several keys (standby,
//!   active, retiring, revoked), so the unique index on `environment_id`
//!   becomes a plain one; `activate_time` (when a key starts signing;
//!   existing keys: their creation) and `revoke_time` are added.
//! - `api_keys.expiry_notices`: how many `key.expiring` events were sent
//!   for the key (0, 1 = the 7-day one, 2 = the 1-day one), so each is
//!   sent once across replicas and restarts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyUsage {
    Table,
    KeyId,
    EnvironmentId,
    BucketStart,
    SuccessCount,
    RevokedCount,
    ExpiredCount,
    NotAllowedNetworkCount,
    PermissionDeniedCount,
    MintedTokenCount,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    EnvironmentId,
    ActivateTime,
    RevokeTime,
    CreateTime,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    ExpiryNotices,
}

const COUNTERS: [KeyUsage; 6] = [
    KeyUsage::SuccessCount,
    KeyUsage::RevokedCount,
    KeyUsage::ExpiredCount,
    KeyUsage::NotAllowedNetworkCount,
    KeyUsage::PermissionDeniedCount,
    KeyUsage::MintedTokenCount,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table(KeyUsage::Table)
            .col(string(KeyUsage::KeyId))
            .col(big_integer(KeyUsage::BucketStart))
            .col(string(KeyUsage::EnvironmentId));
        for counter in COUNTERS {
            table.col(big_integer(counter).default(0));
        }
        table.primary_key(
            Index::create()
                .col(KeyUsage::KeyId)
                .col(KeyUsage::BucketStart),
        );
        manager.create_table(table.to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name("key_usage_environment")
                    .table(KeyUsage::Table)
                    .col(KeyUsage::EnvironmentId)
                    .col(KeyUsage::BucketStart)
                    .to_owned(),
            )
            .await?;

        manager
            .drop_index(
                Index::drop()
                    .name("signing_keys_environment")
                    .table(SigningKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("signing_keys_environment")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::EnvironmentId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .add_column(big_integer(SigningKeys::ActivateTime).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SigningKeys::Table)
                    .add_column(big_integer_null(SigningKeys::RevokeTime))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(SigningKeys::Table)
                    .value(
                        SigningKeys::ActivateTime,
                        Expr::col(SigningKeys::CreateTime),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(integer(ApiKeys::ExpiryNotices).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::ExpiryNotices)
                    .to_owned(),
            )
            .await?;
        for column in [SigningKeys::RevokeTime, SigningKeys::ActivateTime] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SigningKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(KeyUsage::Table).to_owned())
            .await
    }
}
