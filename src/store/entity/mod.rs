//! sea-orm entities: one file per table. Internal `seq` columns order rows
//! for keyset pagination; public ids are random strings.

pub mod account;
pub mod admin_token;
pub mod api_key;
pub mod environment;
