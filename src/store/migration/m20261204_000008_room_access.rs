//! Room access stored on rooms (issue 24): a room's default access and
//! its user and group entries, for STORED-mode user tokens.
//!
//! Accesses are small integers: 0 none, 1 read, 2 write (ordered, so
//! "at least read" is `>= 1`). `rooms.readable_by_default` (0/1) mirrors
//! `default_access >= 1` so that "rooms everyone may read" is one equality
//! on an index ordered by `seq`: the keyset scan of `ListRooms` for a
//! STORED-mode user never filters rows in memory. Existing rooms get NONE
//! (token-mode users are unaffected: they never consult these columns).
//!
//! `room_accesses` has one row per (room, subject), `subject` being
//! `u:<user id>` or `g:<group id>`; its primary key answers "may this
//! user (with these groups) open room R" (point lookups) and the index
//! `(environment_id, subject, room_seq)` answers "which rooms may this
//! user open" as one ordered range per subject.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Rooms {
    Table,
    EnvironmentId,
    Seq,
    DefaultAccess,
    ReadableByDefault,
}

#[derive(DeriveIden)]
enum RoomAccesses {
    Table,
    EnvironmentId,
    RoomSeq,
    Subject,
    Access,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            small_integer(Rooms::DefaultAccess).default(0).to_owned(),
            small_integer(Rooms::ReadableByDefault)
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Rooms::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("rooms_readable_by_default")
                    .table(Rooms::Table)
                    .col(Rooms::EnvironmentId)
                    .col(Rooms::ReadableByDefault)
                    .col(Rooms::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoomAccesses::Table)
                    .col(string(RoomAccesses::EnvironmentId))
                    .col(big_integer(RoomAccesses::RoomSeq))
                    .col(string(RoomAccesses::Subject))
                    .col(small_integer(RoomAccesses::Access))
                    .primary_key(
                        Index::create()
                            .col(RoomAccesses::EnvironmentId)
                            .col(RoomAccesses::RoomSeq)
                            .col(RoomAccesses::Subject),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("room_accesses_by_subject")
                    .table(RoomAccesses::Table)
                    .col(RoomAccesses::EnvironmentId)
                    .col(RoomAccesses::Subject)
                    .col(RoomAccesses::RoomSeq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RoomAccesses::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("rooms_readable_by_default")
                    .table(Rooms::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Rooms::DefaultAccess, Rooms::ReadableByDefault] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Rooms::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
