//! Least privilege: restricted keys' permissions, key names and allowed
//! networks; per-user token revocations; details on audit events.
//!
//! `user_token_revocations` holds one row per (environment, user) whose
//! tokens were revoked: tokens issued before `not_before` are refused. A
//! row, not an in-memory list, so the revocation survives restarts and is
//! read by every replica. Deleted with its environment.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Permissions,
    DisplayName,
    AllowedCidrs,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Details,
}

#[derive(DeriveIden)]
enum UserTokenRevocations {
    Table,
    EnvironmentId,
    UserId,
    AccountId,
    NotBefore,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            ApiKeys::Permissions,
            ApiKeys::DisplayName,
            ApiKeys::AllowedCidrs,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(string_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(text_null(AuditEvents::Details))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserTokenRevocations::Table)
                    .col(string(UserTokenRevocations::EnvironmentId))
                    .col(string(UserTokenRevocations::UserId))
                    .col(string(UserTokenRevocations::AccountId))
                    .col(big_integer(UserTokenRevocations::NotBefore))
                    .primary_key(
                        Index::create()
                            .col(UserTokenRevocations::EnvironmentId)
                            .col(UserTokenRevocations::UserId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserTokenRevocations::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::Details)
                    .to_owned(),
            )
            .await?;
        for column in [
            ApiKeys::Permissions,
            ApiKeys::DisplayName,
            ApiKeys::AllowedCidrs,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
