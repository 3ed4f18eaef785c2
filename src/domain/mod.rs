//! Domain types and rules, without I/O. The newtypes here (typed ids,
//! display names, resource ids, credentials, scopes) are valid by
//! construction: built only by their `parse`/`generate` functions, from our
//! own stored values, or (scopes) by `crate::auth`. Free text (comment
//! bodies, metadata) is checked by `content` and stays a `String`.

pub mod audit;
pub mod content;
pub mod credential;
pub mod ids;
pub mod names;
pub mod networks;
pub mod origin;
pub mod page;
pub mod permissions;
pub mod records;
pub mod roles;
pub mod rooms;
pub mod scope;
pub mod secret;
pub mod signing;
pub mod time;
pub mod totp;
