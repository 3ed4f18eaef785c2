//! `RotateSigningKey` and `RevokeSigningKey` (handlers of
//! `EnvironmentService`, kept apart from the API-key lifecycle).
//!
//! A rotated-in key is STANDBY for the JWKS max-age, then signs; revoking
//! a key ends every token it signed on every replica before the call
//! returns, and revoking the ACTIVE key puts a new one in its place at
//! once (see `crate::domain::signing`).

use tonic::{Request, Response, Status};

use super::AppState;
use crate::auth::context;
use crate::domain::ids::{EnvironmentId, SigningKeyId};
use crate::domain::time::to_timestamp;
use crate::pb;

/// `EnvironmentService.RotateSigningKey`.
pub(super) async fn rotate_signing_key(
    state: &AppState,
    request: Request<pb::RotateSigningKeyRequest>,
) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
    let admin = context::admin(&request)?;
    let env_id = EnvironmentId::parse("environment_id", &request.get_ref().environment_id)?;
    let standby = i64::try_from(state.tokens.standby().as_micros()).unwrap_or(i64::MAX);
    let rotated = admin
        .store(&state.store)
        .rotate_signing_key(
            &env_id,
            state.tokens.new_signing_key(&env_id),
            standby,
            &admin.actor,
        )
        .await?;
    // Published here at once (other replicas re-read within a second of
    // a JWKS request, and before the key signs).
    state.tokens.forget(&env_id).await;
    Ok(Response::new(pb::RotateSigningKeyResponse {
        kid: rotated.key.id,
        activate_time: Some(to_timestamp(rotated.key.activate_time)),
        previous_kid: rotated.previous.map(|p| p.id).unwrap_or_default(),
    }))
}

/// `EnvironmentService.RevokeSigningKey`.
pub(super) async fn revoke_signing_key(
    state: &AppState,
    request: Request<pb::RevokeSigningKeyRequest>,
) -> Result<Response<pb::RevokeSigningKeyResponse>, Status> {
    let admin = context::admin(&request)?;
    let req = request.get_ref();
    let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
    let kid = SigningKeyId::parse("kid", &req.kid)?;
    let revoked = admin
        .store(&state.store)
        .revoke_signing_key(
            &env_id,
            &kid,
            || state.tokens.new_signing_key(&env_id),
            &admin.actor,
        )
        .await?
        .finish(&state.revoker)
        .await;
    state.tokens.forget(&env_id).await;
    Ok(Response::new(pb::RevokeSigningKeyResponse {
        kid: revoked.key.id,
        revoke_time: revoked.key.revoke_time.map(to_timestamp),
        replacement_kid: revoked.replacement.map(|r| r.id).unwrap_or_default(),
    }))
}
