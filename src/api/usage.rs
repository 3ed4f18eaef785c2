//! `GetKeyUsage` and `GetEnvironmentUsage` (handlers of
//! `EnvironmentService`, kept apart from the key lifecycle).

use tonic::{Request, Response, Status};

use super::AppState;
use crate::pb;

/// `EnvironmentService.GetKeyUsage`.
pub(super) async fn get_key_usage(
    _state: &AppState,
    _request: Request<pb::GetKeyUsageRequest>,
) -> Result<Response<pb::GetKeyUsageResponse>, Status> {
    Err(Status::unimplemented("GetKeyUsage is not implemented yet"))
}

/// `EnvironmentService.GetEnvironmentUsage`.
pub(super) async fn get_environment_usage(
    _state: &AppState,
    _request: Request<pb::GetEnvironmentUsageRequest>,
) -> Result<Response<pb::GetEnvironmentUsageResponse>, Status> {
    Err(Status::unimplemented(
        "GetEnvironmentUsage is not implemented yet",
    ))
}
