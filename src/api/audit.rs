//! `pulse.v1.AuditService`: the account's audit log.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context;
use crate::domain::audit::EventType;
use crate::domain::ids::EnvironmentId;
use crate::pb::{self, audit_service_server::AuditService};
use crate::store::audit::Filter;

/// Handlers of `AuditService`.
#[derive(Clone, Debug)]
pub struct AuditApi {
    state: AppState,
}

impl AuditApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let filter = Filter {
            environment_id: match req.environment_id.as_str() {
                "" => None,
                env => Some(EnvironmentId::parse("environment_id", env)?),
            },
            event_type: match req.r#type.as_str() {
                "" => None,
                t => Some(EventType::parse("type", t)?),
            },
        };
        // The token is bound to the filters: another filter is another list.
        let list = format!("audit/{}/{}", req.environment_id, req.r#type);
        let page = self.state.page(admin.tenant(), &list, req)?;
        let (rows, next_page_token) = admin
            .store(&self.state.store)
            .list_events(&filter, &page)
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: rows.into_iter().map(convert::audit_event).collect(),
            next_page_token,
        }))
    }
}
