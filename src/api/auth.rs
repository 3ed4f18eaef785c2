//! `pulse.v1.AuthService`: describes and mints environment credentials.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::{Principal, context};
use crate::cache::Cache;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::content::parse_text;
use crate::domain::names::parse_resource_id;
use crate::domain::time::{now_micros, to_timestamp};
use crate::error::Error;
use crate::pb::{self, auth_service_server::AuthService};

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
        let now = now_micros() / 1_000_000;
        let token =
            self.state
                .tokens
                .mint(&signer, caller.key_id.as_str(), user_id.as_str(), now, ttl);
        Ok(Response::new(pb::MintUserTokenResponse {
            token: token.into_exposed(),
            expire_time: Some(prost_types::Timestamp {
                seconds: now + ttl,
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
            Principal::User { user_id } => user_id.to_string(),
            Principal::Server | Principal::Anonymous => String::new(),
        };
        Ok(Response::new(pb::WhoAmIResponse {
            environment_id,
            key_id: caller.key_id.into_string(),
            kind: convert::credential_kind(caller.kind) as i32,
            user_id,
        }))
    }

    async fn list_signing_keys(
        &self,
        request: Request<pb::ListSigningKeysRequest>,
    ) -> Result<Response<pb::ListSigningKeysResponse>, Status> {
        let caller = context::environment(&request)?;
        let signer = self.state.tokens.signer(&caller.scope).await?;
        Ok(Response::new(pb::ListSigningKeysResponse {
            keys: vec![pb::SigningKey {
                kid: signer.kid.clone(),
                algorithm: "EdDSA".into(),
                public_key: signer.public_key.clone(),
                create_time: Some(to_timestamp(signer.create_time)),
                crv: "Ed25519".into(),
                x: URL_SAFE_NO_PAD.encode(&signer.public_key),
            }],
        }))
    }
}
