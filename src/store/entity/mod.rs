//! sea-orm entities: one file per table. Internal `seq` columns order rows
//! for keyset pagination; public ids are random strings.

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
