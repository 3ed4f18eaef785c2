//! gRPC handlers, one file per service. Each handler validates the request,
//! takes the tenant from the caller context, calls the store and converts
//! the result to proto. Handlers never build SQL.

pub mod account;
pub mod audit;
pub mod auth;
pub mod convert;
pub mod data;
pub mod environment;

use std::sync::Arc;

use crate::auth::KeyIndex;
use crate::auth::tokens::TokenService;
use crate::cluster::{Cluster, Killed, Notice};
use crate::domain::page::PageSealer;
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
    /// Revocation propagation to other replicas.
    pub cluster: Arc<Cluster>,
    /// Seals page tokens to their list and tenant.
    pub pages: Arc<PageSealer>,
}

impl AppState {
    /// After a revoking transaction committed: this process rejects the
    /// credentials at once, then every live replica has acknowledged (see
    /// [`crate::cluster`]) before the RPC returns.
    pub async fn killed(&self, revision: &str, killed: Vec<Killed>) {
        self.changed(revision, killed, Vec::new()).await;
    }

    /// Like [`AppState::killed`], plus credentials whose revocation was
    /// scheduled for later: they are re-read so every replica enforces the
    /// deadline.
    pub async fn changed(&self, revision: &str, killed: Vec<Killed>, scheduled: Vec<Killed>) {
        self.index.kill(killed).await;
        self.index.evict(scheduled).await;
        self.cluster.await_acks(revision).await;
    }

    /// Where a revoking transaction announces itself.
    pub fn notice<'a>(&'a self, revision: &'a str) -> Notice<'a> {
        Notice {
            cluster: &self.cluster,
            revision,
        }
    }
}
