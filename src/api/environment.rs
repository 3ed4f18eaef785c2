//! `pulse.v1.EnvironmentService`: environments, their keys, and browsing.

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::context;
use crate::auth::credential::CredentialKind;
use crate::domain::ids::{IdKind, parse_id};
use crate::domain::names::parse_display_name;
use crate::domain::names::parse_resource_id;
use crate::domain::time::{now_micros, parse_expire_time};
use crate::error::Error;
use crate::pb::{self, environment_service_server::EnvironmentService};
use crate::store::entity::api_key;
use crate::store::{environments, keys, rooms, threads, users};

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

    /// Makes revoked keys fail here and on every replica. Called after commit.
    async fn kill_keys(&self, revision: &str, keys: &[api_key::Model]) {
        self.state.killed(revision, keys::killed(keys)).await;
    }
}

#[tonic::async_trait]
impl EnvironmentService for EnvironmentApi {
    async fn create_environment(
        &self,
        request: Request<pb::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::CreateEnvironmentResponse>, Status> {
        let admin = context::admin(&request)?;
        let name = parse_display_name("display_name", &request.get_ref().display_name)?;
        let (env, pair) = environments::create_environment(
            &self.state.store,
            &admin.scope,
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
        let id = parse_id(IdKind::Environment, "id", &request.get_ref().id)?;
        let env = environments::get_environment(&self.state.store, &admin.scope, &id).await?;
        Ok(Response::new(convert::environment(env)))
    }

    async fn list_environments(
        &self,
        request: Request<pb::ListEnvironmentsRequest>,
    ) -> Result<Response<pb::ListEnvironmentsResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let page = self.state.pages.parse(
            admin.scope.account_id(),
            "environments",
            req.page_size,
            &req.page_token,
        )?;
        let (rows, next_page_token) =
            environments::list_environments(&self.state.store, &admin.scope, &page).await?;
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
        let id = parse_id(IdKind::Environment, "environment.id", &env.id)?;
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
        let env = environments::rename_environment(
            &self.state.store,
            &admin.scope,
            &id,
            &name,
            &admin.actor,
        )
        .await?;
        Ok(Response::new(convert::environment(env)))
    }

    async fn delete_environment(
        &self,
        request: Request<pb::DeleteEnvironmentRequest>,
    ) -> Result<Response<()>, Status> {
        let admin = context::admin(&request)?;
        let id = parse_id(IdKind::Environment, "id", &request.get_ref().id)?;
        let revision = self.state.cluster.next_revision();
        let deleted = environments::delete_environment(
            &self.state.store,
            &admin.scope,
            &id,
            &admin.actor,
            self.state.notice(&revision),
        )
        .await?;
        self.kill_keys(&revision, &deleted.keys).await;
        self.state.tokens.forget(&deleted.environment.id).await;
        Ok(Response::new(()))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = parse_id(IdKind::Environment, "environment_id", &req.environment_id)?;
        let page = self.state.pages.parse(
            admin.scope.account_id(),
            &format!("keys/{env_id}"),
            req.page_size,
            &req.page_token,
        )?;
        let (rows, next_page_token) =
            keys::list_keys(&self.state.store, &admin.scope, &env_id, &page).await?;
        Ok(Response::new(pb::ListKeysResponse {
            keys: rows.into_iter().map(convert::api_key).collect(),
            next_page_token,
        }))
    }

    async fn rotate_keys(
        &self,
        request: Request<pb::RotateKeysRequest>,
    ) -> Result<Response<pb::RotateKeysResponse>, Status> {
        let admin = context::admin(&request)?;
        let env_id = parse_id(
            IdKind::Environment,
            "environment_id",
            &request.get_ref().environment_id,
        )?;
        let revision = self.state.cluster.next_revision();
        let grace = match request.get_ref().old_key_expire_seconds {
            s @ 0..=604_800 => i64::from(s) * 1_000_000,
            _ => {
                return Err(Error::invalid(
                    "old_key_expire_seconds",
                    "must be between 0 and 604800",
                )
                .into());
            }
        };
        let rotation = keys::rotate_keys(
            &self.state.store,
            &admin.scope,
            &env_id,
            grace,
            &admin.actor,
            self.state.notice(&revision),
        )
        .await?;
        let (dead, later): (Vec<_>, Vec<_>) = rotation
            .revoked
            .iter()
            .cloned()
            .partition(|k| k.revoke_time.is_some_and(|t| t <= rotation.now));
        self.state
            .changed(&revision, keys::killed(&dead), keys::killed(&later))
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
        let id = parse_id(IdKind::ApiKey, "id", &request.get_ref().id)?;
        let revision = self.state.cluster.next_revision();
        let (key, _) = keys::revoke_key(
            &self.state.store,
            &admin.scope,
            &id,
            &admin.actor,
            self.state.notice(&revision),
        )
        .await?;
        self.kill_keys(&revision, std::slice::from_ref(&key)).await;
        Ok(Response::new(convert::api_key(key)))
    }

    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = parse_id(IdKind::Environment, "environment_id", &req.environment_id)?;
        let kind = match pb::ApiKeyKind::try_from(req.kind) {
            Ok(pb::ApiKeyKind::Publishable) => CredentialKind::Publishable,
            Ok(pb::ApiKeyKind::Secret) => CredentialKind::Secret,
            _ => {
                return Err(Error::invalid(
                    "kind",
                    "must be API_KEY_KIND_PUBLISHABLE or API_KEY_KIND_SECRET",
                )
                .into());
            }
        };
        let expire_time = req
            .expire_time
            .as_ref()
            .map(|t| parse_expire_time("expire_time", t, now_micros()))
            .transpose()?;
        let created = keys::create_key(
            &self.state.store,
            &admin.scope,
            &env_id,
            kind,
            expire_time,
            &admin.actor,
        )
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
        let env_id = parse_id(
            IdKind::Environment,
            "environment_id",
            &request.get_ref().environment_id,
        )?;
        let scope =
            environments::environment_scope(&self.state.store, &admin.scope, &env_id).await?;
        let stats = environments::stats(&self.state.store, &scope).await?;
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
        let env_id = parse_id(IdKind::Environment, "environment_id", &req.environment_id)?;
        let page = self.state.pages.parse(
            admin.scope.account_id(),
            &format!("rooms/{env_id}"),
            req.page_size,
            &req.page_token,
        )?;
        let scope =
            environments::environment_scope(&self.state.store, &admin.scope, &env_id).await?;
        let (rows, next_page_token) = rooms::list_rooms(&self.state.store, &scope, &page).await?;
        Ok(Response::new(pb::ListEnvironmentRoomsResponse {
            rooms: rows.into_iter().map(convert::room).collect(),
            next_page_token,
        }))
    }

    async fn list_environment_threads(
        &self,
        request: Request<pb::ListEnvironmentThreadsRequest>,
    ) -> Result<Response<pb::ListEnvironmentThreadsResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = parse_id(IdKind::Environment, "environment_id", &req.environment_id)?;
        let room_id = match req.room_id.as_str() {
            "" => None,
            room => Some(parse_resource_id("room_id", room)?),
        };
        let list = format!("threads/{env_id}/{}", room_id.as_deref().unwrap_or(""));
        let page = self.state.pages.parse(
            admin.scope.account_id(),
            &list,
            req.page_size,
            &req.page_token,
        )?;
        let scope =
            environments::environment_scope(&self.state.store, &admin.scope, &env_id).await?;
        let (rows, next_page_token) =
            threads::list_threads(&self.state.store, &scope, room_id.as_deref(), &page).await?;
        Ok(Response::new(pb::ListEnvironmentThreadsResponse {
            threads: rows.into_iter().map(convert::thread).collect(),
            next_page_token,
        }))
    }

    async fn list_environment_users(
        &self,
        request: Request<pb::ListEnvironmentUsersRequest>,
    ) -> Result<Response<pb::ListEnvironmentUsersResponse>, Status> {
        let admin = context::admin(&request)?;
        let req = request.get_ref();
        let env_id = parse_id(IdKind::Environment, "environment_id", &req.environment_id)?;
        let page = self.state.pages.parse(
            admin.scope.account_id(),
            &format!("users/{env_id}"),
            req.page_size,
            &req.page_token,
        )?;
        let scope =
            environments::environment_scope(&self.state.store, &admin.scope, &env_id).await?;
        let (rows, next_page_token) = users::list_users(&self.state.store, &scope, &page).await?;
        Ok(Response::new(pb::ListEnvironmentUsersResponse {
            users: rows.into_iter().map(convert::user).collect(),
            next_page_token,
        }))
    }
}
