//! gRPC handlers, one file per service. Each handler validates the request,
//! takes the tenant from the caller context, calls the store and converts
//! the result to proto. Handlers never build SQL.

pub mod account;
pub mod auth;
pub mod convert;
pub mod data;
pub mod environment;

use std::sync::Arc;

use crate::auth::KeyIndex;
use crate::auth::tokens::TokenService;
use crate::store::Store;

/// What every handler needs: the store and the key index (to kill
/// credentials as soon as a revocation commits).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The in-memory credential index.
    pub index: Arc<KeyIndex>,
    /// User-token signing and verification.
    pub tokens: Arc<TokenService>,
}
