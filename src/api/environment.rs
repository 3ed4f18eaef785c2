//! `pulse.v1.EnvironmentService`: environments, their keys, and browsing.

use tonic::{Request, Response, Status};

use super::{AppState, Paged, convert};
use crate::auth::context::{self, AdminCaller};
use crate::domain::credential::CredentialKind;
use crate::domain::ids::{EnvironmentId, KeyId, ThreadId};
use crate::domain::names::{parse_display_name, parse_resource_id};
use crate::domain::networks::Networks;
use crate::domain::page::PageRequest;
use crate::domain::permissions::Permissions;
use crate::domain::scope::EnvironmentScope;
use crate::domain::time::{now_micros, parse_expire_time};
use crate::error::{Error, Result};
use crate::pb::{self, environment_service_server::EnvironmentService};
use crate::store::keys::KeyOptions;

/// Longest grace period of a rotation's old secret keys (7 days).
const MAX_GRACE_SECONDS: i32 = 604_800;

/// Handlers of `EnvironmentService`.
#[derive(Clone, Debug)]
pub struct EnvironmentApi {
    state: AppState,
}

impl EnvironmentApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// For the browsing RPCs: the page, whose token is bound to `list`,
    /// and the scope of the requested environment (one of the admin's).
    async fn browse(
        &self,
        admin: &AdminCaller,
        env_id: &EnvironmentId,
        list: &str,
        request: &impl Paged,
    ) -> Result<(EnvironmentScope, PageRequest)> {
        let page = self.state.page(admin.tenant(), list, request)?;
        let scope = admin.open_environment(&self.state.store, env_id).await?;
        Ok((scope, page))
    }
}

/// What `CreateKey` sets besides the kind: permissions only (and always)
/// on restricted keys, networks not on publishable keys (they are public
/// and used from browsers anywhere).
fn key_options(
    req: &pb::CreateKeyRequest,
    kind: CredentialKind,
    expire_time: Option<i64>,
) -> Result<KeyOptions> {
    let permissions = match kind {
        CredentialKind::Restricted => Some(Permissions::parse("permissions", &req.permissions)?),
        _ if !req.permissions.is_empty() => {
            return Err(Error::invalid(
                "permissions",
                "only restricted keys (API_KEY_KIND_RESTRICTED) have permissions",
            ));
        }
        _ => None,
    };
    let networks = Networks::parse("allowed_cidrs", &req.allowed_cidrs)?;
    if kind == CredentialKind::Publishable && !networks.is_empty() {
        return Err(Error::invalid(
            "allowed_cidrs",
            "publishable keys are used from browsers anywhere; restrict secret or restricted keys",
        ));
    }
    let display_name = match req.display_name.trim() {
        "" => None,
        name => Some(parse_display_name("display_name", name)?),
    };
    Ok(KeyOptions {
        expire_time,
        permissions,
        display_name,
        networks,
    })
}

#[tonic::async_trait]
impl EnvironmentService for EnvironmentApi {
    async fn create_environment(
        &self,
        request: Request<pb::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::CreateEnvironmentResponse>, Status> {
        let admin = context::admin(&request)?;
        if !admin.grant.environments.is_all() {
            return Err(Error::PermissionDenied(
                "a caller scoped to some environments cannot create environments".into(),
            )
            .into());
        }
        let name = parse_display_name("display_name", &request.get_ref().display_name)?;
        let (env, pair) = admin
            .store(&self.state.store)
            .create_environment(
                &name,
                |env| self.state.tokens.new_signing_key(env),
                &admin.actor,
            )
            .await?;
        Ok(Response::new(pb::CreateEnvironmentResponse {
            environment: Some(convert::environment(env)),
            publishable_key: Some(convert::api_key(pair.publishable)),
            secret_key: pair.secret_plaintext.into_exposed(),
            secret_key_info: Some(convert::api_key(pair.secret)),
        }))
    }

    async fn get_environment(
        &self,
        request: Request<pb::GetEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let admin = context::admin(&request)?;
        let id = EnvironmentId::parse("id", &request.get_ref().id)?;
        let env = admin.store(&self.state.store).environment(&id).await?;
        Ok(Response::new(convert::environment(env)))
    }

    async fn list_environments(
        &self,
        request: Request<pb::ListEnvironmentsRequest>,
    ) -> Result<Response<pb::ListEnvironmentsResponse>, Status> {
        let admin = context::admin(&request)?;
        let page = self
            .state
            .page(admin.tenant(), "environments", request.get_ref())?;
        let (rows, next_page_token) = admin
            .store(&self.state.store)
            .list_environments(&page)
            .await?;
        Ok(Response::new(pb::ListEnvironmentsResponse {
            environments: rows.into_iter().map(convert::environment).collect(),
            next_page_token,
        }))
    }

    async fn update_environment(
        &self,
        request: Request<pb::UpdateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env = req
            .environment
            .as_ref()
            .ok_or_else(|| Error::invalid("environment", "is required"))?;
        let id = EnvironmentId::parse("environment.id", &env.id)?;
        // AIP-134: an absent or empty mask means "every mutable field".
        let paths = req
            .update_mask
            .as_ref()
            .map(|m| m.paths.as_slice())
            .unwrap_or_default();
        if let Some(bad) = paths.iter().find(|p| p.as_str() != "display_name") {
            return Err(Error::invalid(
                "update_mask.paths",
                format!("unknown path {bad:?}; allowed: display_name"),
            )
            .into());
        }
        let name = parse_display_name("environment.display_name", &env.display_name)?;
        let env = admin
            .store(&self.state.store)
            .rename_environment(&id, &name, &admin.actor)
            .await?;
        Ok(Response::new(convert::environment(env)))
    }

    async fn delete_environment(
        &self,
        request: Request<pb::DeleteEnvironmentRequest>,
    ) -> Result<Response<()>, Status> {
        let admin = context::admin(&request)?;
        let id = EnvironmentId::parse("id", &request.get_ref().id)?;
        admin
            .store(&self.state.store)
            .delete_environment(&id, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(()))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        let page = self
            .state
            .page(admin.tenant(), &format!("keys/{env_id}"), req)?;
        let store = admin.store(&self.state.store);
        let (rows, next_page_token) = store.list_keys(&env_id, &page).await?;
        // The page's 24-hour success counts, in one query.
        let ids: Vec<&str> = rows.iter().map(|k| k.id.as_str()).collect();
        let since = super::environment_usage::day_ago_bucket(now_micros());
        let counts = store.success_counts_since(&env_id, &ids, since).await?;
        let keys = rows
            .into_iter()
            .map(|row| {
                let success_count_24h = counts.get(&row.id).copied().unwrap_or_default();
                pb::ApiKey {
                    success_count_24h,
                    ..convert::api_key(row)
                }
            })
            .collect();
        Ok(Response::new(pb::ListKeysResponse {
            keys,
            next_page_token,
        }))
    }

    async fn rotate_keys(
        &self,
        request: Request<pb::RotateKeysRequest>,
    ) -> Result<Response<pb::RotateKeysResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        if !(0..=MAX_GRACE_SECONDS).contains(&req.old_key_expire_seconds) {
            return Err(Error::invalid(
                "old_key_expire_seconds",
                format!("must be between 0 and {MAX_GRACE_SECONDS}"),
            )
            .into());
        }
        let grace = i64::from(req.old_key_expire_seconds) * 1_000_000;
        let rotation = admin
            .store(&self.state.store)
            .rotate_keys(&env_id, grace, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(pb::RotateKeysResponse {
            publishable_key: Some(convert::api_key(rotation.pair.publishable)),
            secret_key: rotation.pair.secret_plaintext.into_exposed(),
            keys: rotation.revoked.into_iter().map(convert::api_key).collect(),
            secret_key_info: Some(convert::api_key(rotation.pair.secret)),
        }))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let admin = context::admin(&request)?;
        let id = KeyId::parse("id", &request.get_ref().id)?;
        let key = admin
            .store(&self.state.store)
            .revoke_key(&id, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(convert::api_key(key)))
    }

    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        let kind = convert::parse_key_kind("kind", req.kind)?;
        let expire_time = req
            .expire_time
            .as_ref()
            .map(|t| parse_expire_time("expire_time", t, now_micros()))
            .transpose()?;
        let options = key_options(req, kind, expire_time)?;
        let created = admin
            .store(&self.state.store)
            .create_key(&env_id, kind, &options, &admin.actor)
            .await?;
        Ok(Response::new(pb::CreateKeyResponse {
            key: Some(convert::api_key(created.key)),
            secret_key: created
                .secret_plaintext
                .map(|s| s.into_exposed())
                .unwrap_or_default(),
        }))
    }

    async fn get_environment_stats(
        &self,
        request: Request<pb::GetEnvironmentStatsRequest>,
    ) -> Result<Response<pb::EnvironmentStats>, Status> {
        let admin = context::admin(&request)?;
        let env_id = EnvironmentId::parse("environment_id", &request.get_ref().environment_id)?;
        let scope = admin.open_environment(&self.state.store, &env_id).await?;
        let stats = self.state.store.environment(&scope).stats().await?;
        Ok(Response::new(pb::EnvironmentStats {
            room_count: stats.rooms as i64,
            thread_count: stats.threads as i64,
            user_count: stats.users as i64,
            comment_count: stats.comments as i64,
        }))
    }

    async fn list_environment_rooms(
        &self,
        request: Request<pb::ListEnvironmentRoomsRequest>,
    ) -> Result<Response<pb::ListEnvironmentRoomsResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        let list = format!("rooms/{env_id}");
        let (scope, page) = self.browse(&admin, &env_id, &list, req).await?;
        let store = self.state.store.environment(&scope);
        let (rows, next_page_token) = store.list_rooms(&page).await?;
        let acls = store.acls_of_page(&rows).await?;
        Ok(Response::new(pb::ListEnvironmentRoomsResponse {
            rooms: super::room::with_accesses(rows, acls, None),
            next_page_token,
        }))
    }

    async fn list_environment_threads(
        &self,
        request: Request<pb::ListEnvironmentThreadsRequest>,
    ) -> Result<Response<pb::ListEnvironmentThreadsResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        let room_id = match req.room_id.as_str() {
            "" => None,
            room => Some(parse_resource_id("room_id", room)?),
        };
        // The room filter is part of the list the token is bound to.
        let list = format!("threads/{env_id}/{}", req.room_id);
        let (scope, page) = self.browse(&admin, &env_id, &list, req).await?;
        let store = self.state.store.environment(&scope);
        let (rows, next_page_token) = store.list_threads(room_id.as_ref(), &page).await?;
        Ok(Response::new(pb::ListEnvironmentThreadsResponse {
            threads: rows.into_iter().map(convert::thread).collect(),
            next_page_token,
        }))
    }

    async fn list_environment_comments(
        &self,
        request: Request<pb::ListEnvironmentCommentsRequest>,
    ) -> Result<Response<pb::ListEnvironmentCommentsResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        let thread_id = ThreadId::parse("thread_id", &req.thread_id)?;
        let list = format!("comments/{env_id}/{thread_id}");
        let (scope, page) = self.browse(&admin, &env_id, &list, req).await?;
        let store = self.state.store.environment(&scope);
        let (rows, next_page_token) = store.list_comments(&thread_id, &page).await?;
        Ok(Response::new(pb::ListEnvironmentCommentsResponse {
            comments: rows.into_iter().map(convert::comment).collect(),
            next_page_token,
        }))
    }

    async fn revoke_environment_user_tokens(
        &self,
        request: Request<pb::RevokeEnvironmentUserTokensRequest>,
    ) -> Result<Response<pb::UserTokenRevocation>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        let user_id = parse_resource_id("user_id", &req.user_id)?;
        let scope = admin.open_environment(&self.state.store, &env_id).await?;
        let revoked = self
            .state
            .store
            .environment(&scope)
            .revoke_user_tokens(&user_id, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(convert::user_token_revocation(revoked)))
    }

    async fn list_environment_users(
        &self,
        request: Request<pb::ListEnvironmentUsersRequest>,
    ) -> Result<Response<pb::ListEnvironmentUsersResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = EnvironmentId::parse("environment_id", &req.environment_id)?;
        let list = format!("users/{env_id}");
        let (scope, page) = self.browse(&admin, &env_id, &list, req).await?;
        let store = self.state.store.environment(&scope);
        let (rows, next_page_token) = store.list_users(&page).await?;
        Ok(Response::new(pb::ListEnvironmentUsersResponse {
            users: rows.into_iter().map(convert::user).collect(),
            next_page_token,
        }))
    }

    async fn get_key_usage(
        &self,
        request: Request<pb::GetKeyUsageRequest>,
    ) -> Result<Response<pb::GetKeyUsageResponse>, Status> {
        super::environment_usage::get_key_usage(&self.state, request).await
    }

    async fn get_environment_usage(
        &self,
        request: Request<pb::GetEnvironmentUsageRequest>,
    ) -> Result<Response<pb::GetEnvironmentUsageResponse>, Status> {
        super::environment_usage::get_environment_usage(&self.state, request).await
    }

    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        super::signing::rotate_signing_key(&self.state, request).await
    }

    async fn revoke_signing_key(
        &self,
        request: Request<pb::RevokeSigningKeyRequest>,
    ) -> Result<Response<pb::RevokeSigningKeyResponse>, Status> {
        super::signing::revoke_signing_key(&self.state, request).await
    }
}
