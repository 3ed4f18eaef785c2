//! The replica harness, shared by `examples/replicas.rs` (scale-out
//! figures) and `tests/api/replicas.rs` (replicas agree on revocation):
//! `pulse serve` replicas on one PostgreSQL database, reached through
//! connections of their own; an environment created through the first
//! replica; rotations through any replica; WhoAmI probes of each replica
//! with a secret key; user tokens minted, revoked (`RevokeUserTokens` with
//! a secret key, `RevokeEnvironmentUserTokens` with the admin token) and
//! probed (publishable key + user token) through any replica.
//!
//! Starting the processes stays with each caller (the example runs the
//! release binary, the test the one cargo built for it). The test includes
//! this file with `#[path]`, so it uses nothing else of `common`.
#![allow(dead_code)] // each user takes part of it

use std::fmt::Display;

use pulse::pb;
use sea_orm::{ConnectionTrait, Database};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// An empty database `name` in the PostgreSQL server at `base_url`
/// (dropped first if it exists); returns its URL.
pub async fn recreate_database(base_url: &str, name: &str) -> String {
    let admin_db = Database::connect(base_url).await.unwrap();
    admin_db
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    admin_db
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{}/{name}", &base_url[..base_url.rfind('/').unwrap()])
}

/// Kills the replicas' `LISTEN` connections to the database at `url` (as
/// a failover or a network cut would); returns how many were killed.
pub async fn kill_listeners(url: &str) -> u64 {
    let db = Database::connect(url).await.unwrap();
    let res = db
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'listen%' AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    res.rows_affected()
}

fn bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("ascii token"),
    );
    request
}

/// WhoAmI with secret key `sk` over `channel`.
pub async fn who_am_i(channel: Channel, sk: &str) -> Result<pb::WhoAmIResponse, Status> {
    pb::auth_service_client::AuthServiceClient::new(channel)
        .who_am_i(bearer(pb::WhoAmIRequest {}, sk))
        .await
        .map(tonic::Response::into_inner)
}

/// WhoAmI as a frontend over `channel`: publishable key `pk` and user
/// token `token`.
pub async fn who_am_i_user(
    channel: Channel,
    pk: &str,
    token: &str,
) -> Result<pb::WhoAmIResponse, Status> {
    let mut request = bearer(pb::WhoAmIRequest {}, token);
    request.metadata_mut().insert(
        "x-pulse-publishable-key",
        MetadataValue::try_from(pk).expect("ascii key"),
    );
    pb::auth_service_client::AuthServiceClient::new(channel)
        .who_am_i(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Connections to running replicas, and the admin token of their account.
pub struct Replicas {
    /// Per replica, its connections; the first is the one RPCs here use.
    channels: Vec<Vec<Channel>>,
    admin_token: String,
}

impl Replicas {
    /// Opens `per_replica` connections to each replica at `addrs`.
    pub async fn connect(
        addrs: impl IntoIterator<Item = impl Display>,
        admin_token: &str,
        per_replica: usize,
    ) -> Self {
        let mut channels = Vec::new();
        for addr in addrs {
            let mut own = Vec::new();
            for _ in 0..per_replica.max(1) {
                own.push(
                    Channel::from_shared(format!("http://{addr}"))
                        .unwrap()
                        .connect()
                        .await
                        .unwrap_or_else(|e| panic!("connect to replica {addr}: {e}")),
                );
            }
            channels.push(own);
        }
        Self {
            channels,
            admin_token: admin_token.to_owned(),
        }
    }

    /// How many replicas.
    pub fn count(&self) -> usize {
        self.channels.len()
    }

    /// The connection to `replica` that the RPCs here use.
    pub fn channel(&self, replica: usize) -> Channel {
        self.channels[replica][0].clone()
    }

    /// Every connection, replica by replica (to spread load over them).
    pub fn all_channels(&self) -> Vec<Channel> {
        self.channels.iter().flatten().cloned().collect()
    }

    /// Creates an environment through the first replica.
    pub async fn create_environment(
        &self,
        display_name: &str,
    ) -> Result<pb::CreateEnvironmentResponse, Status> {
        pb::environment_service_client::EnvironmentServiceClient::new(self.channel(0))
            .create_environment(bearer(
                pb::CreateEnvironmentRequest {
                    display_name: display_name.into(),
                },
                &self.admin_token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Rotates an environment's keys through `replica` (the old pair dies
    /// at once); returns the new secret key.
    pub async fn rotate_via(&self, replica: usize, environment_id: &str) -> Result<String, Status> {
        pb::environment_service_client::EnvironmentServiceClient::new(self.channel(replica))
            .rotate_keys(bearer(
                pb::RotateKeysRequest {
                    environment_id: environment_id.into(),
                    ..Default::default()
                },
                &self.admin_token,
            ))
            .await
            .map(|r| r.into_inner().secret_key)
    }

    /// WhoAmI with `sk` on `replica`.
    pub async fn who_am_i(&self, replica: usize, sk: &str) -> Result<pb::WhoAmIResponse, Status> {
        who_am_i(self.channel(replica), sk).await
    }

    /// MintUserToken for `user_id` with secret key `sk` through `replica`;
    /// returns the token.
    pub async fn mint_user_token_via(
        &self,
        replica: usize,
        sk: &str,
        user_id: &str,
    ) -> Result<String, Status> {
        pb::auth_service_client::AuthServiceClient::new(self.channel(replica))
            .mint_user_token(bearer(
                pb::MintUserTokenRequest {
                    user_id: user_id.into(),
                    ..Default::default()
                },
                sk,
            ))
            .await
            .map(|r| r.into_inner().token)
    }

    /// RevokeUserTokens for `user_id` with secret key `sk` through
    /// `replica`: the user's tokens minted so far die at once.
    pub async fn revoke_user_tokens_via(
        &self,
        replica: usize,
        sk: &str,
        user_id: &str,
    ) -> Result<pb::UserTokenRevocation, Status> {
        pb::auth_service_client::AuthServiceClient::new(self.channel(replica))
            .revoke_user_tokens(bearer(
                pb::RevokeUserTokensRequest {
                    user_id: user_id.into(),
                },
                sk,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// RevokeEnvironmentUserTokens (the admin's twin of RevokeUserTokens)
    /// for `user_id` of `environment_id` through `replica`.
    pub async fn revoke_environment_user_tokens_via(
        &self,
        replica: usize,
        environment_id: &str,
        user_id: &str,
    ) -> Result<pb::UserTokenRevocation, Status> {
        pb::environment_service_client::EnvironmentServiceClient::new(self.channel(replica))
            .revoke_environment_user_tokens(bearer(
                pb::RevokeEnvironmentUserTokensRequest {
                    environment_id: environment_id.into(),
                    user_id: user_id.into(),
                },
                &self.admin_token,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// WhoAmI with publishable key `pk` and user token `token` on `replica`.
    pub async fn who_am_i_user(
        &self,
        replica: usize,
        pk: &str,
        token: &str,
    ) -> Result<pb::WhoAmIResponse, Status> {
        who_am_i_user(self.channel(replica), pk, token).await
    }
}
