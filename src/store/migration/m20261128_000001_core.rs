//! Accounts, admin tokens, environments and API keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Seq,
    Id,
    DisplayName,
    CreateTime,
}

#[derive(DeriveIden)]
enum AdminTokens {
    Table,
    Seq,
    Id,
    AccountId,
    DisplayName,
    Prefix,
    TokenHash,
    CreateTime,
    RevokeTime,
    LastUseTime,
}

#[derive(DeriveIden)]
enum Environments {
    Table,
    Seq,
    Id,
    AccountId,
    DisplayName,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Seq,
    Id,
    EnvironmentId,
    AccountId,
    Kind,
    Prefix,
    KeyHash,
    Value,
    CreateTime,
    RevokeTime,
    LastUseTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(big_pk_auto(Accounts::Seq))
                    .col(string_uniq(Accounts::Id))
                    .col(string(Accounts::DisplayName))
                    .col(big_integer(Accounts::CreateTime))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AdminTokens::Table)
                    .col(big_pk_auto(AdminTokens::Seq))
                    .col(string_uniq(AdminTokens::Id))
                    .col(string(AdminTokens::AccountId))
                    .col(string(AdminTokens::DisplayName))
                    .col(string(AdminTokens::Prefix))
                    .col(string_uniq(AdminTokens::TokenHash))
                    .col(big_integer(AdminTokens::CreateTime))
                    .col(big_integer_null(AdminTokens::RevokeTime))
                    .col(big_integer_null(AdminTokens::LastUseTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("admin_tokens_account_seq")
                    .table(AdminTokens::Table)
                    .col(AdminTokens::AccountId)
                    .col(AdminTokens::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Environments::Table)
                    .col(big_pk_auto(Environments::Seq))
                    .col(string_uniq(Environments::Id))
                    .col(string(Environments::AccountId))
                    .col(string(Environments::DisplayName))
                    .col(big_integer(Environments::CreateTime))
                    .col(big_integer(Environments::UpdateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("environments_account_seq")
                    .table(Environments::Table)
                    .col(Environments::AccountId)
                    .col(Environments::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(big_pk_auto(ApiKeys::Seq))
                    .col(string_uniq(ApiKeys::Id))
                    .col(string(ApiKeys::EnvironmentId))
                    .col(string(ApiKeys::AccountId))
                    .col(string(ApiKeys::Kind))
                    .col(string(ApiKeys::Prefix))
                    .col(string_uniq(ApiKeys::KeyHash))
                    .col(string_null(ApiKeys::Value))
                    .col(big_integer(ApiKeys::CreateTime))
                    .col(big_integer_null(ApiKeys::RevokeTime))
                    .col(big_integer_null(ApiKeys::LastUseTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("api_keys_environment_seq")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::EnvironmentId)
                    .col(ApiKeys::Seq)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiKeys::Table.into_iden(),
            Environments::Table.into_iden(),
            AdminTokens::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
