//! The environment-scoped data plane: signing keys, users, rooms, threads,
//! comments. Every table carries `environment_id`, and every unique index
//! includes it, so two environments can never collide or see each other.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Seq,
    Id,
    EnvironmentId,
    PublicKey,
    SealedPrivateKey,
    CreateTime,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Seq,
    EnvironmentId,
    UserId,
    Name,
    AvatarUrl,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Rooms {
    Table,
    Seq,
    EnvironmentId,
    RoomId,
    Metadata,
    CreateTime,
}

#[derive(DeriveIden)]
enum Threads {
    Table,
    Seq,
    Id,
    EnvironmentId,
    RoomId,
    CommentCount,
    CreateTime,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Seq,
    Id,
    EnvironmentId,
    ThreadId,
    UserId,
    Body,
    CreateTime,
    EditTime,
}

fn unique(name: &str, table: impl IntoIden, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table).unique();
    for col in cols {
        index.col(col);
    }
    index.to_owned()
}

fn plain(name: &str, table: impl IntoIden, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(big_pk_auto(SigningKeys::Seq))
                    .col(string_uniq(SigningKeys::Id))
                    .col(string(SigningKeys::EnvironmentId))
                    .col(binary(SigningKeys::PublicKey))
                    .col(binary(SigningKeys::SealedPrivateKey))
                    .col(big_integer(SigningKeys::CreateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "signing_keys_environment",
                SigningKeys::Table,
                vec![SigningKeys::EnvironmentId.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Seq))
                    .col(string(Users::EnvironmentId))
                    .col(string(Users::UserId))
                    .col(string(Users::Name))
                    .col(string(Users::AvatarUrl))
                    .col(big_integer(Users::CreateTime))
                    .col(big_integer(Users::UpdateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "users_environment_user",
                Users::Table,
                vec![Users::EnvironmentId.into_iden(), Users::UserId.into_iden()],
            ))
            .await?;
        manager
            .create_index(plain(
                "users_environment_seq",
                Users::Table,
                vec![Users::EnvironmentId.into_iden(), Users::Seq.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Rooms::Table)
                    .col(big_pk_auto(Rooms::Seq))
                    .col(string(Rooms::EnvironmentId))
                    .col(string(Rooms::RoomId))
                    .col(text(Rooms::Metadata))
                    .col(big_integer(Rooms::CreateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "rooms_environment_room",
                Rooms::Table,
                vec![Rooms::EnvironmentId.into_iden(), Rooms::RoomId.into_iden()],
            ))
            .await?;
        manager
            .create_index(plain(
                "rooms_environment_seq",
                Rooms::Table,
                vec![Rooms::EnvironmentId.into_iden(), Rooms::Seq.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Threads::Table)
                    .col(big_pk_auto(Threads::Seq))
                    .col(string(Threads::Id))
                    .col(string(Threads::EnvironmentId))
                    .col(string(Threads::RoomId))
                    .col(big_integer(Threads::CommentCount))
                    .col(big_integer(Threads::CreateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "threads_environment_id",
                Threads::Table,
                vec![Threads::EnvironmentId.into_iden(), Threads::Id.into_iden()],
            ))
            .await?;
        manager
            .create_index(plain(
                "threads_environment_room_seq",
                Threads::Table,
                vec![
                    Threads::EnvironmentId.into_iden(),
                    Threads::RoomId.into_iden(),
                    Threads::Seq.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_index(plain(
                "threads_environment_seq",
                Threads::Table,
                vec![Threads::EnvironmentId.into_iden(), Threads::Seq.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Comments::Table)
                    .col(big_pk_auto(Comments::Seq))
                    .col(string(Comments::Id))
                    .col(string(Comments::EnvironmentId))
                    .col(string(Comments::ThreadId))
                    .col(string(Comments::UserId))
                    .col(text(Comments::Body))
                    .col(big_integer(Comments::CreateTime))
                    .col(big_integer_null(Comments::EditTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "comments_environment_id",
                Comments::Table,
                vec![
                    Comments::EnvironmentId.into_iden(),
                    Comments::Id.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_index(plain(
                "comments_environment_thread_seq",
                Comments::Table,
                vec![
                    Comments::EnvironmentId.into_iden(),
                    Comments::ThreadId.into_iden(),
                    Comments::Seq.into_iden(),
                ],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Comments::Table.into_iden(),
            Threads::Table.into_iden(),
            Rooms::Table.into_iden(),
            Users::Table.into_iden(),
            SigningKeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
