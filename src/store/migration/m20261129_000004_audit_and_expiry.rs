//! The audit log, and optional expiry of API keys.
//!
//! `audit_events` has no foreign keys on purpose: an environment's events
//! outlive the environment (an auditor asks what happened to a deleted
//! one). `api_keys.expire_time` is separate from `revoke_time` so a key that
//! simply ran out is told apart from one somebody revoked.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    Id,
    AccountId,
    EnvironmentId,
    EventType,
    Actor,
    TargetId,
    RequestId,
    Peer,
    CreateTime,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    ExpireTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_pk_auto(AuditEvents::Seq))
                    .col(string_uniq(AuditEvents::Id))
                    .col(string(AuditEvents::AccountId))
                    .col(string_null(AuditEvents::EnvironmentId))
                    .col(string(AuditEvents::EventType))
                    .col(string(AuditEvents::Actor))
                    .col(string(AuditEvents::TargetId))
                    .col(string(AuditEvents::RequestId))
                    .col(string(AuditEvents::Peer))
                    .col(big_integer(AuditEvents::CreateTime))
                    .to_owned(),
            )
            .await?;
        // Listing is by account in seq order, optionally narrowed by
        // environment; both filters ride on an index.
        manager
            .create_index(
                Index::create()
                    .name("audit_events_account_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::AccountId)
                    .col(AuditEvents::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_account_environment_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::AccountId)
                    .col(AuditEvents::EnvironmentId)
                    .col(AuditEvents::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(big_integer_null(ApiKeys::ExpireTime))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::ExpireTime)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
