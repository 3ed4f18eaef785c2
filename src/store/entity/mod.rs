//! sea-orm entities: one file per table. Internal `seq` columns order rows
//! for keyset pagination; public ids are random strings.
//!
//! Each file declares its row through [`table!`], which writes what sea-orm
//! wants around every row the same way; rooms, threads and comments are
//! still written out (issue 24 changes them).

/// A table's row (`Model`) with the sea-orm derives and table name, no
/// relations (queries join explicitly) and no active-model hooks. `id`
/// puts the insertion-order `seq` (primary key, for keyset pagination) and
/// the unique public `id` first; more derives (`Debug`) may follow.
macro_rules! table {
    ($(#[$doc:meta])* $table:literal, id $(, $derive:ident)* { $($field:tt)* }) => {
        table! {
            $(#[$doc])*
            $table $(, $derive)* {
                /// Insertion order, for keyset pagination.
                #[sea_orm(primary_key)]
                pub seq: i64,
                /// Public id (`acct_…`, `key_…`, …).
                #[sea_orm(unique)]
                pub id: String,
                $($field)*
            }
        }
    };
    ($(#[$doc:meta])* $table:literal $(, $derive:ident)* { $($field:tt)* }) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, DeriveEntityModel $(, $derive)*)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            $($field)*
        }

        /// No relations are navigated through sea-orm.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod account;
pub mod admin_token;
pub mod api_key;
pub mod audit_event;
pub mod comment;
pub mod environment;
pub mod key_usage;
pub mod member;
pub mod room;
pub mod room_access;
pub mod session;
pub mod signing_key;
pub mod thread;
pub mod user;
pub mod user_token_revocation;
