//! Domain types and rules, without I/O. Values of these types are valid by
//! construction: they are built only by `parse` functions.

pub mod audit;
pub mod content;
pub mod credential;
pub mod ids;
pub mod names;
pub mod page;
pub mod scope;
pub mod secret;
pub mod time;
