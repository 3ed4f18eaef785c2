//! `pulse.v1.EventService`: the audit log, live.

use std::pin::Pin;

use tonic::{Request, Response, Status};

use super::AppState;
use crate::pb::{self, event_service_server::EventService};

/// Handlers of `EventService`.
#[derive(Clone, Debug)]
pub struct EventApi {
    #[allow(dead_code)]
    state: AppState,
}

impl EventApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The stream `WatchEvents` returns.
pub type EventStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::AuditEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        _request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Err(Status::unimplemented("WatchEvents is not implemented yet"))
    }
}
