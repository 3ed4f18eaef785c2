//! Team access: roles, environment scopes and expiry on admin tokens;
//! members (invited and active) and their sessions.
//!
//! Existing admin tokens become owners (`role` defaults to `owner`), with
//! no scope (`environment_ids` NULL: the whole account) and no expiry, so
//! nothing that worked before stops working.
//!
//! `members.email` is unique on the server (stored normalised: trimmed and
//! lowercase), so one address signs in to one member. `invite_hash` and
//! `sessions.token_hash` hold SHA-256s of credentials, never the
//! credentials. `totp_secret` is sealed with the master key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminTokens {
    Table,
    Role,
    EnvironmentIds,
    ExpireTime,
}

#[derive(DeriveIden)]
enum Members {
    Table,
    Seq,
    Id,
    AccountId,
    Email,
    DisplayName,
    Role,
    EnvironmentIds,
    State,
    PasswordHash,
    TotpSecret,
    TotpPending,
    TotpLastStep,
    InviteHash,
    InviteExpireTime,
    CreateTime,
    UpdateTime,
    LastSignInTime,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Seq,
    Id,
    MemberId,
    AccountId,
    TokenHash,
    CreateTime,
    ExpireTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            string(AdminTokens::Role).default("owner").to_owned(),
            text_null(AdminTokens::EnvironmentIds),
            big_integer_null(AdminTokens::ExpireTime),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AdminTokens::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .col(big_pk_auto(Members::Seq))
                    .col(string_uniq(Members::Id))
                    .col(string(Members::AccountId))
                    .col(string_uniq(Members::Email))
                    .col(string(Members::DisplayName))
                    .col(string(Members::Role))
                    .col(text_null(Members::EnvironmentIds))
                    .col(string(Members::State))
                    .col(text_null(Members::PasswordHash))
                    .col(binary_null(Members::TotpSecret))
                    .col(binary_null(Members::TotpPending))
                    .col(big_integer_null(Members::TotpLastStep))
                    .col(string_null(Members::InviteHash).unique_key())
                    .col(big_integer_null(Members::InviteExpireTime))
                    .col(big_integer(Members::CreateTime))
                    .col(big_integer(Members::UpdateTime))
                    .col(big_integer_null(Members::LastSignInTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("members_by_account")
                    .table(Members::Table)
                    .col(Members::AccountId)
                    .col(Members::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(big_pk_auto(Sessions::Seq))
                    .col(string_uniq(Sessions::Id))
                    .col(string(Sessions::MemberId))
                    .col(string(Sessions::AccountId))
                    .col(string_uniq(Sessions::TokenHash))
                    .col(big_integer(Sessions::CreateTime))
                    .col(big_integer(Sessions::ExpireTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_by_member")
                    .table(Sessions::Table)
                    .col(Sessions::MemberId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Members::Table).to_owned())
            .await?;
        for column in [
            AdminTokens::Role,
            AdminTokens::EnvironmentIds,
            AdminTokens::ExpireTime,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AdminTokens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
