//! `RotateSigningKey` and `RevokeSigningKey` (handlers of
//! `EnvironmentService`, kept apart from the API-key lifecycle).

use tonic::{Request, Response, Status};

use super::AppState;
use crate::pb;

/// `EnvironmentService.RotateSigningKey`.
pub(super) async fn rotate_signing_key(
    _state: &AppState,
    _request: Request<pb::RotateSigningKeyRequest>,
) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
    Err(Status::unimplemented(
        "RotateSigningKey is not implemented yet",
    ))
}

/// `EnvironmentService.RevokeSigningKey`.
pub(super) async fn revoke_signing_key(
    _state: &AppState,
    _request: Request<pb::RevokeSigningKeyRequest>,
) -> Result<Response<pb::RevokeSigningKeyResponse>, Status> {
    Err(Status::unimplemented(
        "RevokeSigningKey is not implemented yet",
    ))
}
