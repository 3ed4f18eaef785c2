//! `pulse.v1.AuthService`: describes and mints environment credentials.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::{Principal, context};
use crate::cache::Cache;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::tokens::Mint;
use crate::domain::audit::Actor;
use crate::domain::content::parse_text;
use crate::domain::ids;
use crate::domain::names::parse_resource_id;
use crate::domain::rooms::{MAX_GROUPS, RoomAccess, RoomClaim, check_patterns, check_subject_ids};
use crate::domain::signing::KeyState;
use crate::domain::time::{now_micros, to_timestamp};
use crate::error::Error;
use crate::pb::{self, auth_service_server::AuthService};
use crate::store::signing_keys;

/// Handlers of `AuthService`.
#[derive(Clone, Debug)]
pub struct AuthApi {
    state: AppState,
    /// (environment, user) → (name, avatar_url) last stored by this
    /// process. A returning user with an unchanged profile then costs no
    /// database round trip at all. Bounded, and short-lived so that a
    /// profile changed through another replica is rewritten within
    /// [`PROFILE_TTL`].
    profiles: std::sync::Arc<Cache<(String, String), (String, String)>>,
}

/// How long a stored profile is trusted without reading it back.
const PROFILE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Default user-token lifetime.
const DEFAULT_TTL_SECS: i64 = 3600;
/// Longest user-token lifetime.
const MAX_TTL_SECS: i64 = 86_400;

impl AuthApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            profiles: std::sync::Arc::new(Cache::with_ttl(100_000, PROFILE_TTL)),
        }
    }
}

/// A request's room permissions as the token's claim; INVALID_ARGUMENT
/// for a bad pattern, an unspecified access, or more than 1,000 patterns.
fn room_claim(map: &std::collections::HashMap<String, i32>) -> Result<RoomClaim, Error> {
    let claim = map
        .iter()
        .map(|(pattern, access)| {
            let access = match pb::RoomAccess::try_from(*access) {
                Ok(pb::RoomAccess::Read) => RoomAccess::Read,
                Ok(pb::RoomAccess::Write) => RoomAccess::Write,
                _ => {
                    return Err(Error::invalid(
                        "room_permissions",
                        format!("{pattern:?} must map to ROOM_ACCESS_READ or ROOM_ACCESS_WRITE"),
                    ));
                }
            };
            Ok((pattern.clone(), access))
        })
        .collect::<Result<RoomClaim, Error>>()?;
    check_patterns("room_permissions", &claim)?;
    Ok(claim)
}

/// The token's groups in STORED mode (`None`: TOKEN mode). Groups need
/// STORED mode (a TOKEN-mode token would carry them for nothing), and
/// STORED mode takes no patterns: INVALID_ARGUMENT.
fn stored_mode(req: &pb::MintUserTokenRequest) -> Result<Option<Vec<String>>, Error> {
    let mode = pb::RoomAccessMode::try_from(req.room_access_mode)
        .map_err(|_| Error::invalid("room_access_mode", "is not a RoomAccessMode"))?;
    if mode != pb::RoomAccessMode::Stored {
        if !req.group_ids.is_empty() {
            return Err(Error::invalid(
                "group_ids",
                "need room_access_mode ROOM_ACCESS_MODE_STORED",
            ));
        }
        return Ok(None);
    }
    if !req.room_permissions.is_empty() {
        return Err(Error::invalid(
            "room_permissions",
            "must be empty with ROOM_ACCESS_MODE_STORED (the rooms decide)",
        ));
    }
    if req.group_ids.len() > MAX_GROUPS {
        return Err(Error::invalid(
            "group_ids",
            format!("at most {MAX_GROUPS} (got {})", req.group_ids.len()),
        ));
    }
    check_subject_ids("group_ids", &req.group_ids)?;
    let mut groups = req.group_ids.clone();
    groups.sort();
    groups.dedup();
    Ok(Some(groups))
}

/// Who the audit log says acted for a call made with a secret or
/// restricted key: the key, with the request's id and peer.
fn key_actor<T>(request: &Request<T>, key_id: &str) -> Actor {
    let request_id = request
        .metadata()
        .get(crate::auth::layer::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(ids::accept_request_id)
        .unwrap_or_else(ids::new_request_id);
    Actor {
        actor: key_id.to_owned(),
        request_id,
        peer: request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
        email: None,
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn mint_user_token(
        &self,
        request: Request<pb::MintUserTokenRequest>,
    ) -> Result<Response<pb::MintUserTokenResponse>, Status> {
        let caller = context::environment(&request)?;
        let req = request.get_ref();
        let user_id = parse_resource_id("user_id", &req.user_id)?;
        let info = req.user_info.clone().unwrap_or_default();
        let name = parse_text("user_info.name", &info.name, 200)?;
        let avatar_url = parse_text("user_info.avatar_url", &info.avatar_url, 2000)?;
        let ttl = match i64::from(req.ttl_seconds) {
            0 => DEFAULT_TTL_SECS,
            t if (1..=MAX_TTL_SECS).contains(&t) => t,
            _ => return Err(Error::invalid("ttl_seconds", "must be between 0 and 86400").into()),
        };
        let rooms = room_claim(&req.room_permissions)?;
        let stored = stored_mode(req)?;
        let profile_key = (caller.tenant().to_owned(), user_id.as_str().to_owned());
        let profile = (name, avatar_url);
        if self.profiles.get(&profile_key).as_ref() != Some(&profile) {
            let (name, avatar_url) = &profile;
            caller
                .store(&self.state.store)
                .upsert_user(&user_id, name, avatar_url)
                .await?;
            self.profiles.insert(profile_key, profile);
        }
        let signer = self.state.tokens.signer(&caller.scope).await?;
        // After a revocation of this user's tokens, `iat` is never before
        // its line (which may be up to a second ahead of now): tokens minted
        // after `RevokeUserTokens` returned always work.
        let now = now_micros();
        let not_before = self
            .state
            .index
            .user_not_before(&caller.scope, user_id.as_str())
            .await?;
        let issued = not_before.map_or(now, |nb| nb.max(now));
        let token = self.state.tokens.mint(
            &signer,
            Mint {
                key_id: caller.key_id.as_str(),
                user_id: user_id.as_str(),
                issued,
                ttl,
                rooms,
                stored,
            },
        )?;
        self.state.index.usage().count(
            caller.key_id.as_str(),
            caller.tenant(),
            crate::auth::usage_counters::Outcome::Minted,
        );
        Ok(Response::new(pb::MintUserTokenResponse {
            token: token.into_exposed(),
            expire_time: Some(prost_types::Timestamp {
                seconds: issued / 1_000_000 + ttl,
                nanos: 0,
            }),
        }))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = context::environment(&request)?;
        let environment_id = caller.tenant().to_owned();
        let user_id = match caller.principal {
            Principal::User { user_id, .. } => user_id.to_string(),
            Principal::Server | Principal::Anonymous => String::new(),
        };
        Ok(Response::new(pb::WhoAmIResponse {
            environment_id,
            key_id: caller.key_id.into_string(),
            kind: convert::credential_kind(caller.kind) as i32,
            user_id,
            permissions: caller
                .permissions
                .map(|p| p.names().map(str::to_owned).collect())
                .unwrap_or_default(),
        }))
    }

    async fn revoke_user_tokens(
        &self,
        request: Request<pb::RevokeUserTokensRequest>,
    ) -> Result<Response<pb::UserTokenRevocation>, Status> {
        let caller = context::environment(&request)?;
        let user_id = parse_resource_id("user_id", &request.get_ref().user_id)?;
        let actor = key_actor(&request, caller.key_id.as_str());
        let revoked = caller
            .store(&self.state.store)
            .revoke_user_tokens(&user_id, &actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(convert::user_token_revocation(revoked)))
    }

    async fn list_signing_keys(
        &self,
        request: Request<pb::ListSigningKeysRequest>,
    ) -> Result<Response<pb::ListSigningKeysResponse>, Status> {
        let caller = context::environment(&request)?;
        // Gives the environment its first key if it has none yet.
        self.state.tokens.signer(&caller.scope).await?;
        let rows = caller.store(&self.state.store).signing_keys().await?;
        let states = signing_keys::states(&rows, now_micros());
        let keys = rows
            .into_iter()
            .zip(states)
            .filter(|(_, state)| state.listed())
            .map(|(row, state)| {
                let (state, retire_time) = match state {
                    KeyState::Standby => (pb::SigningKeyState::Standby, None),
                    KeyState::Active => (pb::SigningKeyState::Active, None),
                    KeyState::Retiring { retire_time } => {
                        (pb::SigningKeyState::Retiring, Some(retire_time))
                    }
                    KeyState::Revoked { .. } | KeyState::Gone => {
                        (pb::SigningKeyState::Revoked, None)
                    }
                };
                pb::SigningKey {
                    kid: row.id,
                    algorithm: "EdDSA".into(),
                    x: URL_SAFE_NO_PAD.encode(&row.public_key),
                    public_key: row.public_key,
                    create_time: Some(to_timestamp(row.create_time)),
                    crv: "Ed25519".into(),
                    state: state as i32,
                    activate_time: Some(to_timestamp(row.activate_time)),
                    retire_time: retire_time.map(to_timestamp),
                    revoke_time: row.revoke_time.map(to_timestamp),
                }
            })
            .collect();
        Ok(Response::new(pb::ListSigningKeysResponse { keys }))
    }
}
