//! gRPC handlers, one file per service. Each handler validates the request,
//! takes the tenant from the caller context, calls the caller's store
//! handle and converts the result to proto. Handlers never build SQL, and
//! every revoking call is finished through [`AppState::revoker`].

pub mod account;
pub mod audit;
pub mod auth;
pub mod convert;
pub mod environment;
pub mod environment_usage;
pub mod event;
pub mod member;
pub mod room;
pub mod session;
pub mod signing;
pub mod thread;
pub mod user;

use std::sync::Arc;

use crate::auth::KeyIndex;
use crate::auth::tokens::TokenService;
use crate::cluster::Revoker;
use crate::domain::page::{PageRequest, PageSealer};
use crate::error::Result;
use crate::store::Store;

/// What every handler needs.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The in-memory credential index.
    pub index: Arc<KeyIndex>,
    /// User-token signing and verification.
    pub tokens: Arc<TokenService>,
    /// Finishes revocations: caches here, then every replica.
    pub revoker: Revoker,
    /// Seals page tokens to their list and tenant.
    pub pages: Arc<PageSealer>,
    /// The live tail of the audit log, for `WatchEvents`.
    pub events: Arc<crate::event_hub::EventHub>,
    /// Team access: TOTP sealing, session lifetime, sign-in limits.
    pub team: Arc<crate::auth::team::Team>,
}

/// A list request's paging fields.
pub trait Paged {
    /// `page_size`.
    fn page_size(&self) -> i32;
    /// `page_token`.
    fn page_token(&self) -> &str;
}

macro_rules! paged {
    ($($request:ident),* $(,)?) => {
        $(impl Paged for crate::pb::$request {
            fn page_size(&self) -> i32 {
                self.page_size
            }
            fn page_token(&self) -> &str {
                &self.page_token
            }
        })*
    };
}
paged!(
    ListAdminTokensRequest,
    ListAuditEventsRequest,
    ListCommentsRequest,
    ListEnvironmentCommentsRequest,
    ListEnvironmentRoomsRequest,
    ListEnvironmentThreadsRequest,
    ListEnvironmentUsersRequest,
    ListEnvironmentsRequest,
    ListKeysRequest,
    ListMembersRequest,
    ListRoomsRequest,
    ListThreadsRequest,
    ListUsersRequest,
);

impl AppState {
    /// The page a list request asks for; its token is sealed to `tenant`
    /// and `list`, so it cannot be replayed against another list.
    pub fn page(&self, tenant: &str, list: &str, request: &impl Paged) -> Result<PageRequest> {
        self.pages
            .parse(tenant, list, request.page_size(), request.page_token())
    }
}
