//! `Client`: a connection to a test server bound to one credential, with
//! the RPCs tests call as plain async methods returning the response
//! message (or the `Status`, for `assert_code`).
//!
//! ```ignore
//! let who = app.as_secret(&sk).whoami().await.unwrap();
//! assert_code(app.as_admin().rotate_keys(&env_id, -1).await, Code::InvalidArgument);
//! ```
//!
//! Every handle opens its own connection on first use (as the raw
//! `TestApp::auth()` & co. do); bind one with `let` to reuse it. Requests
//! with unusual metadata go through the raw clients (`auth_client()` & co.)
//! with `request()`, or the free functions `bearer` and `frontend`.

#![allow(dead_code)] // a test uses the part it needs

use std::time::Duration;

use pulse::pb;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use pb::account_service_client::AccountServiceClient;
use pb::audit_service_client::AuditServiceClient;
use pb::auth_service_client::AuthServiceClient;
use pb::environment_service_client::EnvironmentServiceClient;
use pb::member_service_client::MemberServiceClient;
use pb::room_service_client::RoomServiceClient;
use pb::session_service_client::SessionServiceClient;
use pb::thread_service_client::ThreadServiceClient;
use pb::user_service_client::UserServiceClient;

/// What a `Client` sends with every call.
#[derive(Clone, Debug)]
pub enum Credential {
    /// No credentials at all.
    None,
    /// `authorization: Bearer <token>`: an admin token or a secret key.
    Bearer(String),
    /// `x-pulse-publishable-key`, with a user token as bearer if any.
    Frontend {
        pk: String,
        user_token: Option<String>,
    },
}

impl Credential {
    pub fn bearer(token: &str) -> Self {
        Self::Bearer(token.to_owned())
    }

    pub fn frontend(pk: &str, user_token: Option<&str>) -> Self {
        Self::Frontend {
            pk: pk.to_owned(),
            user_token: user_token.map(str::to_owned),
        }
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("ascii token"),
    );
    request
}

/// A request carrying a publishable key and, optionally, a user token.
pub fn frontend<T>(message: T, pk: &str, user_token: Option<&str>) -> Request<T> {
    let mut request = match user_token {
        Some(token) => bearer(message, token),
        None => Request::new(message),
    };
    request.metadata_mut().insert(
        "x-pulse-publishable-key",
        MetadataValue::try_from(pk).expect("ascii key"),
    );
    request
}

/// A channel to `addr` that connects on its first call.
pub fn lazy_channel(addr: impl std::fmt::Display) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy()
}

/// A connection bound to one credential.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    credential: Credential,
}

impl Client {
    pub fn new(channel: Channel, credential: Credential) -> Self {
        Self {
            channel,
            credential,
        }
    }

    /// `authorization: Bearer <token>` on `channel`.
    pub fn bearer(channel: Channel, token: &str) -> Self {
        Self::new(channel, Credential::bearer(token))
    }

    /// The same connection with another credential.
    pub fn with(&self, credential: Credential) -> Self {
        Self::new(self.channel.clone(), credential)
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// `message` with this client's credential attached.
    pub fn request<T>(&self, message: T) -> Request<T> {
        match &self.credential {
            Credential::None => Request::new(message),
            Credential::Bearer(token) => bearer(message, token),
            Credential::Frontend { pk, user_token } => frontend(message, pk, user_token.as_deref()),
        }
    }

    // Raw generated clients, for calls the typed methods do not cover.

    pub fn accounts_client(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel())
    }

    pub fn environments_client(&self) -> EnvironmentServiceClient<Channel> {
        EnvironmentServiceClient::new(self.channel())
    }

    pub fn members_client(&self) -> MemberServiceClient<Channel> {
        MemberServiceClient::new(self.channel())
    }

    pub fn sessions_client(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(self.channel())
    }

    pub fn audit_client(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel())
    }

    pub fn auth_client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel())
    }

    pub fn rooms_client(&self) -> RoomServiceClient<Channel> {
        RoomServiceClient::new(self.channel())
    }

    pub fn threads_client(&self) -> ThreadServiceClient<Channel> {
        ThreadServiceClient::new(self.channel())
    }

    pub fn users_client(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.channel())
    }
}

/// Calls `$client.$rpc(self.request($message))` and unwraps the response.
macro_rules! call {
    ($self:ident, $client:ident . $rpc:ident ($message:expr)) => {
        $self
            .$client()
            .$rpc($self.request($message))
            .await
            .map(tonic::Response::into_inner)
    };
}

/// MemberService, SessionService and GetCaller (team access).
impl Client {
    pub async fn get_caller(&self) -> Result<pb::GetCallerResponse, Status> {
        call!(self, accounts_client.get_caller(pb::GetCallerRequest {}))
    }

    /// An admin token with a role, a scope and an expiry.
    pub async fn create_scoped_admin_token(
        &self,
        role: pb::Role,
        environment_ids: &[&str],
        expire_time: Option<prost_types::Timestamp>,
    ) -> Result<pb::CreateAdminTokenResponse, Status> {
        call!(
            self,
            accounts_client.create_admin_token(pb::CreateAdminTokenRequest {
                display_name: "scoped".into(),
                role: role as i32,
                environment_ids: environment_ids.iter().map(|s| s.to_string()).collect(),
                expire_time,
            })
        )
    }

    pub async fn invite_member(
        &self,
        email: &str,
        role: pb::Role,
        environment_ids: &[&str],
    ) -> Result<pb::InviteMemberResponse, Status> {
        call!(
            self,
            members_client.invite_member(pb::InviteMemberRequest {
                email: email.into(),
                role: role as i32,
                environment_ids: environment_ids.iter().map(|s| s.to_string()).collect(),
            })
        )
    }

    pub async fn list_members(&self) -> Result<pb::ListMembersResponse, Status> {
        call!(
            self,
            members_client.list_members(pb::ListMembersRequest::default())
        )
    }

    pub async fn update_member_role(
        &self,
        member_id: &str,
        role: pb::Role,
    ) -> Result<pb::Member, Status> {
        call!(
            self,
            members_client.update_member(pb::UpdateMemberRequest {
                member_id: member_id.into(),
                role: role as i32,
                environment_ids: Vec::new(),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["role".into()],
                }),
            })
        )
    }

    pub async fn remove_member(&self, member_id: &str) -> Result<(), Status> {
        call!(
            self,
            members_client.remove_member(pb::RemoveMemberRequest {
                member_id: member_id.into(),
            })
        )
    }

    pub async fn accept_invite(
        &self,
        invite_token: &str,
        password: &str,
    ) -> Result<pb::AcceptInviteResponse, Status> {
        call!(
            self,
            sessions_client.accept_invite(pb::AcceptInviteRequest {
                invite_token: invite_token.into(),
                password: password.into(),
                display_name: "Ada".into(),
            })
        )
    }

    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        totp_code: &str,
    ) -> Result<pb::SignInResponse, Status> {
        call!(
            self,
            sessions_client.sign_in(pb::SignInRequest {
                email: email.into(),
                password: password.into(),
                totp_code: totp_code.into(),
            })
        )
    }
}

/// AccountService.
impl Client {
    pub async fn get_account(&self) -> Result<pb::Account, Status> {
        call!(self, accounts_client.get_account(pb::GetAccountRequest {}))
    }

    pub async fn create_admin_token(
        &self,
        display_name: impl Into<String>,
    ) -> Result<pb::CreateAdminTokenResponse, Status> {
        call!(
            self,
            accounts_client.create_admin_token(pb::CreateAdminTokenRequest {
                display_name: display_name.into(),
                ..Default::default()
            })
        )
    }

    /// The first page of admin tokens, at the default page size.
    pub async fn list_admin_tokens(&self) -> Result<pb::ListAdminTokensResponse, Status> {
        call!(
            self,
            accounts_client.list_admin_tokens(pb::ListAdminTokensRequest::default())
        )
    }

    pub async fn revoke_admin_token(
        &self,
        id: impl Into<String>,
    ) -> Result<pb::AdminToken, Status> {
        call!(
            self,
            accounts_client.revoke_admin_token(pb::RevokeAdminTokenRequest { id: id.into() })
        )
    }
}

/// EnvironmentService.
impl Client {
    pub async fn create_environment(
        &self,
        display_name: impl Into<String>,
    ) -> Result<pb::CreateEnvironmentResponse, Status> {
        call!(
            self,
            environments_client.create_environment(pb::CreateEnvironmentRequest {
                display_name: display_name.into(),
            })
        )
    }

    pub async fn get_environment(&self, id: impl Into<String>) -> Result<pb::Environment, Status> {
        call!(
            self,
            environments_client.get_environment(pb::GetEnvironmentRequest { id: id.into() })
        )
    }

    /// The first page of environments, at the default page size.
    pub async fn list_environments(&self) -> Result<pb::ListEnvironmentsResponse, Status> {
        self.list_environments_page(0, "").await
    }

    pub async fn list_environments_page(
        &self,
        page_size: i32,
        page_token: impl Into<String>,
    ) -> Result<pb::ListEnvironmentsResponse, Status> {
        call!(
            self,
            environments_client.list_environments(pb::ListEnvironmentsRequest {
                page_size,
                page_token: page_token.into(),
            })
        )
    }

    /// Updates `environment` (its id names it) under `update_mask`
    /// (`None`: every updatable field).
    pub async fn update_environment(
        &self,
        environment: pb::Environment,
        update_mask: Option<&[&str]>,
    ) -> Result<pb::Environment, Status> {
        call!(
            self,
            environments_client.update_environment(pb::UpdateEnvironmentRequest {
                environment: Some(environment),
                update_mask: update_mask.map(|paths| prost_types::FieldMask {
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                }),
            })
        )
    }

    /// Renames an environment (no update mask).
    pub async fn rename_environment(
        &self,
        id: impl Into<String>,
        display_name: impl Into<String>,
    ) -> Result<pb::Environment, Status> {
        self.update_environment(
            pb::Environment {
                id: id.into(),
                display_name: display_name.into(),
                ..Default::default()
            },
            None,
        )
        .await
    }

    pub async fn delete_environment(&self, id: impl Into<String>) -> Result<(), Status> {
        call!(
            self,
            environments_client.delete_environment(pb::DeleteEnvironmentRequest { id: id.into() })
        )
    }

    /// The first page of an environment's keys, at the default page size.
    pub async fn list_keys(
        &self,
        environment_id: impl Into<String>,
    ) -> Result<pb::ListKeysResponse, Status> {
        self.list_keys_page(environment_id, 0, "").await
    }

    pub async fn list_keys_page(
        &self,
        environment_id: impl Into<String>,
        page_size: i32,
        page_token: impl Into<String>,
    ) -> Result<pb::ListKeysResponse, Status> {
        call!(
            self,
            environments_client.list_keys(pb::ListKeysRequest {
                environment_id: environment_id.into(),
                page_size,
                page_token: page_token.into(),
            })
        )
    }

    /// Rotates both keys; the old secret key lives on for
    /// `old_key_expire_seconds` (0: dies at once).
    pub async fn rotate_keys(
        &self,
        environment_id: impl Into<String>,
        old_key_expire_seconds: i32,
    ) -> Result<pb::RotateKeysResponse, Status> {
        call!(
            self,
            environments_client.rotate_keys(pb::RotateKeysRequest {
                environment_id: environment_id.into(),
                old_key_expire_seconds,
            })
        )
    }

    pub async fn revoke_key(&self, id: impl Into<String>) -> Result<pb::ApiKey, Status> {
        call!(
            self,
            environments_client.revoke_key(pb::RevokeKeyRequest { id: id.into() })
        )
    }

    pub async fn create_key(
        &self,
        environment_id: impl Into<String>,
        kind: pb::ApiKeyKind,
        expire_time: Option<prost_types::Timestamp>,
    ) -> Result<pb::CreateKeyResponse, Status> {
        call!(
            self,
            environments_client.create_key(pb::CreateKeyRequest {
                environment_id: environment_id.into(),
                kind: kind as i32,
                expire_time,
                ..Default::default()
            })
        )
    }

    /// CreateKey with every field the caller's.
    pub async fn create_key_with(
        &self,
        request: pb::CreateKeyRequest,
    ) -> Result<pb::CreateKeyResponse, Status> {
        call!(self, environments_client.create_key(request))
    }

    /// A restricted key (`rk_…`) with `permissions`, usable from anywhere.
    pub async fn create_restricted_key(
        &self,
        environment_id: impl Into<String>,
        permissions: &[&str],
    ) -> Result<pb::CreateKeyResponse, Status> {
        self.create_key_with(pb::CreateKeyRequest {
            environment_id: environment_id.into(),
            kind: pb::ApiKeyKind::Restricted as i32,
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        })
        .await
    }

    pub async fn revoke_environment_user_tokens(
        &self,
        environment_id: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Result<pb::UserTokenRevocation, Status> {
        call!(
            self,
            environments_client.revoke_environment_user_tokens(
                pb::RevokeEnvironmentUserTokensRequest {
                    environment_id: environment_id.into(),
                    user_id: user_id.into(),
                }
            )
        )
    }

    pub async fn environment_stats(
        &self,
        environment_id: impl Into<String>,
    ) -> Result<pb::EnvironmentStats, Status> {
        call!(
            self,
            environments_client.get_environment_stats(pb::GetEnvironmentStatsRequest {
                environment_id: environment_id.into(),
            })
        )
    }

    /// The first page of an environment's rooms, as its admin browses them.
    pub async fn list_environment_rooms(
        &self,
        environment_id: impl Into<String>,
    ) -> Result<pb::ListEnvironmentRoomsResponse, Status> {
        call!(
            self,
            environments_client.list_environment_rooms(pb::ListEnvironmentRoomsRequest {
                environment_id: environment_id.into(),
                ..Default::default()
            })
        )
    }

    /// The first page of a room's threads, as the environment's admin
    /// browses them.
    pub async fn list_environment_threads(
        &self,
        environment_id: impl Into<String>,
        room_id: impl Into<String>,
    ) -> Result<pb::ListEnvironmentThreadsResponse, Status> {
        call!(
            self,
            environments_client.list_environment_threads(pb::ListEnvironmentThreadsRequest {
                environment_id: environment_id.into(),
                room_id: room_id.into(),
                ..Default::default()
            })
        )
    }

    /// The first page of a thread's comments, as the environment's admin
    /// browses them.
    pub async fn list_environment_comments(
        &self,
        environment_id: impl Into<String>,
        thread_id: impl Into<String>,
    ) -> Result<pb::ListEnvironmentCommentsResponse, Status> {
        call!(
            self,
            environments_client.list_environment_comments(pb::ListEnvironmentCommentsRequest {
                environment_id: environment_id.into(),
                thread_id: thread_id.into(),
                ..Default::default()
            })
        )
    }

    /// The first page of an environment's users, as its admin browses them.
    pub async fn list_environment_users(
        &self,
        environment_id: impl Into<String>,
    ) -> Result<pb::ListEnvironmentUsersResponse, Status> {
        call!(
            self,
            environments_client.list_environment_users(pb::ListEnvironmentUsersRequest {
                environment_id: environment_id.into(),
                ..Default::default()
            })
        )
    }
}

/// AuditService.
impl Client {
    pub async fn list_audit_events(
        &self,
        request: pb::ListAuditEventsRequest,
    ) -> Result<pb::ListAuditEventsResponse, Status> {
        call!(self, audit_client.list_audit_events(request))
    }
}

/// AuthService.
impl Client {
    /// A token for `user_id` with no profile and the default lifetime.
    pub async fn mint_user_token(
        &self,
        user_id: impl Into<String>,
    ) -> Result<pb::MintUserTokenResponse, Status> {
        self.mint(pb::MintUserTokenRequest {
            user_id: user_id.into(),
            ..Default::default()
        })
        .await
    }

    /// MintUserToken with every field the caller's.
    pub async fn mint(
        &self,
        request: pb::MintUserTokenRequest,
    ) -> Result<pb::MintUserTokenResponse, Status> {
        call!(self, auth_client.mint_user_token(request))
    }

    /// A token for `user_id` carrying room permissions (pattern → access).
    pub async fn mint_with_rooms(
        &self,
        user_id: impl Into<String>,
        rooms: &[(&str, pb::RoomAccess)],
    ) -> Result<pb::MintUserTokenResponse, Status> {
        self.mint(pb::MintUserTokenRequest {
            user_id: user_id.into(),
            room_permissions: rooms
                .iter()
                .map(|(pattern, access)| ((*pattern).to_owned(), *access as i32))
                .collect(),
            ..Default::default()
        })
        .await
    }

    pub async fn revoke_user_tokens(
        &self,
        user_id: impl Into<String>,
    ) -> Result<pb::UserTokenRevocation, Status> {
        call!(
            self,
            auth_client.revoke_user_tokens(pb::RevokeUserTokensRequest {
                user_id: user_id.into(),
            })
        )
    }

    pub async fn whoami(&self) -> Result<pb::WhoAmIResponse, Status> {
        call!(self, auth_client.who_am_i(pb::WhoAmIRequest {}))
    }

    pub async fn list_signing_keys(&self) -> Result<pb::ListSigningKeysResponse, Status> {
        call!(
            self,
            auth_client.list_signing_keys(pb::ListSigningKeysRequest {})
        )
    }
}

/// RoomService.
impl Client {
    /// Creates room `room_id` without metadata.
    pub async fn create_room(&self, room_id: impl Into<String>) -> Result<pb::Room, Status> {
        self.create_room_with(room_id, Default::default()).await
    }

    pub async fn create_room_with(
        &self,
        room_id: impl Into<String>,
        metadata: std::collections::HashMap<String, String>,
    ) -> Result<pb::Room, Status> {
        call!(
            self,
            rooms_client.create_room(pb::CreateRoomRequest {
                room_id: room_id.into(),
                metadata,
                ..Default::default()
            })
        )
    }

    pub async fn get_room(&self, room_id: impl Into<String>) -> Result<pb::Room, Status> {
        call!(
            self,
            rooms_client.get_room(pb::GetRoomRequest {
                room_id: room_id.into(),
            })
        )
    }

    /// The first page of rooms, at the default page size.
    pub async fn list_rooms(&self) -> Result<pb::ListRoomsResponse, Status> {
        self.list_rooms_page(0, "").await
    }

    pub async fn list_rooms_page(
        &self,
        page_size: i32,
        page_token: impl Into<String>,
    ) -> Result<pb::ListRoomsResponse, Status> {
        call!(
            self,
            rooms_client.list_rooms(pb::ListRoomsRequest {
                page_size,
                page_token: page_token.into(),
                ..Default::default()
            })
        )
    }

    pub async fn delete_room(&self, room_id: impl Into<String>) -> Result<(), Status> {
        call!(
            self,
            rooms_client.delete_room(pb::DeleteRoomRequest {
                room_id: room_id.into(),
            })
        )
    }
}

/// ThreadService. `user_id` names the author: a secret key must, a user
/// token must not (it speaks for its user); pass `""` for none.
impl Client {
    pub async fn create_thread(
        &self,
        room_id: impl Into<String>,
        body: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Result<pb::Thread, Status> {
        call!(
            self,
            threads_client.create_thread(pb::CreateThreadRequest {
                room_id: room_id.into(),
                body: body.into(),
                user_id: user_id.into(),
            })
        )
    }

    /// The first page of a room's threads, at the default page size.
    pub async fn list_threads(
        &self,
        room_id: impl Into<String>,
    ) -> Result<pb::ListThreadsResponse, Status> {
        self.list_threads_page(room_id, 0, "").await
    }

    pub async fn list_threads_page(
        &self,
        room_id: impl Into<String>,
        page_size: i32,
        page_token: impl Into<String>,
    ) -> Result<pb::ListThreadsResponse, Status> {
        call!(
            self,
            threads_client.list_threads(pb::ListThreadsRequest {
                room_id: room_id.into(),
                page_size,
                page_token: page_token.into(),
            })
        )
    }

    pub async fn create_comment(
        &self,
        thread_id: impl Into<String>,
        body: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Result<pb::Comment, Status> {
        call!(
            self,
            threads_client.create_comment(pb::CreateCommentRequest {
                thread_id: thread_id.into(),
                body: body.into(),
                user_id: user_id.into(),
            })
        )
    }

    /// The first page of a thread's comments, at the default page size.
    pub async fn list_comments(
        &self,
        thread_id: impl Into<String>,
    ) -> Result<pb::ListCommentsResponse, Status> {
        self.list_comments_page(thread_id, 0, "").await
    }

    pub async fn list_comments_page(
        &self,
        thread_id: impl Into<String>,
        page_size: i32,
        page_token: impl Into<String>,
    ) -> Result<pb::ListCommentsResponse, Status> {
        call!(
            self,
            threads_client.list_comments(pb::ListCommentsRequest {
                thread_id: thread_id.into(),
                page_size,
                page_token: page_token.into(),
            })
        )
    }

    pub async fn update_comment(
        &self,
        id: impl Into<String>,
        body: impl Into<String>,
    ) -> Result<pb::Comment, Status> {
        call!(
            self,
            threads_client.update_comment(pb::UpdateCommentRequest {
                id: id.into(),
                body: body.into(),
            })
        )
    }

    pub async fn delete_comment(&self, id: impl Into<String>) -> Result<(), Status> {
        call!(
            self,
            threads_client.delete_comment(pb::DeleteCommentRequest { id: id.into() })
        )
    }
}

/// UserService.
impl Client {
    pub async fn get_user(&self, user_id: impl Into<String>) -> Result<pb::User, Status> {
        call!(
            self,
            users_client.get_user(pb::GetUserRequest {
                user_id: user_id.into(),
            })
        )
    }

    /// The first page of users, at the default page size.
    pub async fn list_users(&self) -> Result<pb::ListUsersResponse, Status> {
        self.list_users_page(0, "").await
    }

    pub async fn list_users_page(
        &self,
        page_size: i32,
        page_token: impl Into<String>,
    ) -> Result<pb::ListUsersResponse, Status> {
        call!(
            self,
            users_client.list_users(pb::ListUsersRequest {
                page_size,
                page_token: page_token.into(),
            })
        )
    }
}
