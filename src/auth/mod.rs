//! Authentication: credential format, the in-memory key index and the tower
//! layer that resolves every request's credential before any handler runs.

pub mod context;
mod decisions;
pub mod index;
pub mod layer;
pub mod passwords;
pub mod policy;
pub mod ratelimit;
pub mod refusal;
pub mod sealing;
pub mod team;
pub mod tokens;
pub mod usage_counters;

/// The credential format lives in the domain (the store generates keys);
/// re-exported here, where callers look for it.
pub use crate::domain::credential;

pub use context::{AdminCaller, Caller, EnvCaller, Principal};
pub use index::KeyIndex;
pub use layer::AuthLayer;
