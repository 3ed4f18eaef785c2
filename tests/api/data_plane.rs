//! The data plane as customers use it: a backend mints a user token with
//! its secret key; a frontend calls with the publishable key and the token.

use pulse::pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_code, bearer, frontend, spawn_app};

/// An environment with its credentials.
pub struct Env {
    pub id: String,
    pub pk: String,
    pub sk: String,
    pub sk_id: String,
}

pub async fn environment(app: &TestApp, name: &str) -> Env {
    let created = app.create_environment(name).await;
    Env {
        id: created.environment.unwrap().id,
        pk: created.publishable_key.unwrap().value,
        sk: created.secret_key,
        sk_id: created.secret_key_info.unwrap().id,
    }
}

pub async fn mint(channel: &Channel, sk: &str, user: &str, ttl: i32) -> String {
    pb::auth_service_client::AuthServiceClient::new(channel.clone())
        .mint_user_token(bearer(
            pb::MintUserTokenRequest {
                user_id: user.into(),
                user_info: Some(pb::UserInfo {
                    name: format!("{user} name"),
                    avatar_url: String::new(),
                }),
                ttl_seconds: ttl,
            },
            sk,
        ))
        .await
        .expect("mint user token")
        .into_inner()
        .token
}

/// Creates room `room` and a thread in it by `author` with the secret key;
/// returns the thread and its first comment.
pub async fn seed_thread(
    channel: &Channel,
    sk: &str,
    room: &str,
    author: &str,
    body: &str,
) -> (pb::Thread, pb::Comment) {
    pb::room_service_client::RoomServiceClient::new(channel.clone())
        .create_room(bearer(
            pb::CreateRoomRequest {
                room_id: room.into(),
                ..Default::default()
            },
            sk,
        ))
        .await
        .expect("create room");
    let mut threads = pb::thread_service_client::ThreadServiceClient::new(channel.clone());
    let thread = threads
        .create_thread(bearer(
            pb::CreateThreadRequest {
                room_id: room.into(),
                body: body.into(),
                user_id: author.into(),
            },
            sk,
        ))
        .await
        .expect("create thread")
        .into_inner();
    let comment = threads
        .list_comments(bearer(
            pb::ListCommentsRequest {
                thread_id: thread.id.clone(),
                ..Default::default()
            },
            sk,
        ))
        .await
        .expect("list comments")
        .into_inner()
        .comments
        .remove(0);
    (thread, comment)
}

async fn backend_mints_frontend_collaborates(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let channel = app.channel().await;
    let mut auth = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let mut rooms = pb::room_service_client::RoomServiceClient::new(channel.clone());
    let mut threads = pb::thread_service_client::ThreadServiceClient::new(channel.clone());
    let mut users = pb::user_service_client::UserServiceClient::new(channel.clone());

    // Backend: mint a token for alice (upserts her profile).
    let minted = auth
        .mint_user_token(bearer(
            pb::MintUserTokenRequest {
                user_id: "alice".into(),
                user_info: Some(pb::UserInfo {
                    name: "Alice".into(),
                    avatar_url: "https://a/img.png".into(),
                }),
                ttl_seconds: 0,
            },
            &prod.sk,
        ))
        .await
        .unwrap()
        .into_inner();
    let alice = minted.token.clone();
    let exp = minted.expire_time.unwrap().seconds;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((exp - now - 3600).abs() < 30, "ttl 0 means one hour");

    // Frontend: pk + token.
    let who = auth
        .who_am_i(frontend(pb::WhoAmIRequest {}, &prod.pk, Some(&alice)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(who.environment_id, prod.id);
    assert_eq!(who.user_id, "alice");
    assert_eq!(who.kind, pb::ApiKeyKind::Publishable as i32);

    let room = rooms
        .create_room(frontend(
            pb::CreateRoomRequest {
                room_id: "design:review".into(),
                metadata: [("color".to_string(), "blue".to_string())].into(),
            },
            &prod.pk,
            Some(&alice),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(room.id, "design:review");
    assert_eq!(room.metadata["color"], "blue");
    assert_code(
        rooms
            .create_room(bearer(
                pb::CreateRoomRequest {
                    room_id: "design:review".into(),
                    metadata: Default::default(),
                },
                &prod.sk,
            ))
            .await,
        Code::AlreadyExists,
    );

    let thread = threads
        .create_thread(frontend(
            pb::CreateThreadRequest {
                room_id: room.id.clone(),
                body: "first!".into(),
                user_id: String::new(),
            },
            &prod.pk,
            Some(&alice),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(thread.id.starts_with("th_"));
    assert_eq!(thread.comment_count, 1);

    // A backend names the author; a user may not speak for someone else.
    let by_bob = threads
        .create_comment(bearer(
            pb::CreateCommentRequest {
                thread_id: thread.id.clone(),
                body: "from the server".into(),
                user_id: "bob".into(),
            },
            &prod.sk,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_bob.user_id, "bob");
    let s = assert_code(
        threads
            .create_comment(bearer(
                pb::CreateCommentRequest {
                    thread_id: thread.id.clone(),
                    body: "x".into(),
                    user_id: String::new(),
                },
                &prod.sk,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("user_id"));
    assert_code(
        threads
            .create_comment(frontend(
                pb::CreateCommentRequest {
                    thread_id: thread.id.clone(),
                    body: "x".into(),
                    user_id: "bob".into(),
                },
                &prod.pk,
                Some(&alice),
            ))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        threads
            .create_comment(frontend(
                pb::CreateCommentRequest {
                    thread_id: thread.id.clone(),
                    body: "y".repeat(10_001),
                    user_id: String::new(),
                },
                &prod.pk,
                Some(&alice),
            ))
            .await,
        Code::InvalidArgument,
    );

    // Alice may edit and delete only her own comments.
    assert_code(
        threads
            .update_comment(frontend(
                pb::UpdateCommentRequest {
                    id: by_bob.id.clone(),
                    body: "hacked".into(),
                },
                &prod.pk,
                Some(&alice),
            ))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        threads
            .delete_comment(frontend(
                pb::DeleteCommentRequest {
                    id: by_bob.id.clone(),
                },
                &prod.pk,
                Some(&alice),
            ))
            .await,
        Code::PermissionDenied,
    );
    let comments = threads
        .list_comments(frontend(
            pb::ListCommentsRequest {
                thread_id: thread.id.clone(),
                ..Default::default()
            },
            &prod.pk,
            Some(&alice),
        ))
        .await
        .unwrap()
        .into_inner()
        .comments;
    assert_eq!(comments.len(), 2);
    let mine = comments.iter().find(|c| c.user_id == "alice").unwrap();
    let edited = threads
        .update_comment(frontend(
            pb::UpdateCommentRequest {
                id: mine.id.clone(),
                body: "edited".into(),
            },
            &prod.pk,
            Some(&alice),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.body, "edited");
    assert!(edited.edit_time.is_some());
    // The backend may moderate anything.
    threads
        .delete_comment(bearer(
            pb::DeleteCommentRequest {
                id: by_bob.id.clone(),
            },
            &prod.sk,
        ))
        .await
        .unwrap();

    let user = users
        .get_user(frontend(
            pb::GetUserRequest {
                user_id: "alice".into(),
            },
            &prod.pk,
            Some(&alice),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (user.name.as_str(), user.avatar_url.as_str()),
        ("Alice", "https://a/img.png")
    );

    // A user token cannot mint; an admin token cannot use the data plane.
    assert_code(
        auth.mint_user_token(frontend(
            pb::MintUserTokenRequest {
                user_id: "eve".into(),
                ..Default::default()
            },
            &prod.pk,
            Some(&alice),
        ))
        .await,
        Code::PermissionDenied,
    );
    assert_code(
        auth.mint_user_token(bearer(
            pb::MintUserTokenRequest {
                user_id: "eve".into(),
                ..Default::default()
            },
            &app.admin_token,
        ))
        .await,
        Code::PermissionDenied,
    );
    assert_code(
        auth.mint_user_token(bearer(
            pb::MintUserTokenRequest {
                user_id: "eve".into(),
                ttl_seconds: 86_401,
                ..Default::default()
            },
            &prod.sk,
        ))
        .await,
        Code::InvalidArgument,
    );
    assert_code(
        rooms
            .list_rooms(bearer(pb::ListRoomsRequest::default(), &app.admin_token))
            .await,
        Code::PermissionDenied,
    );

    // Admin view: stats and browse match what was created.
    let mut envs = app.environments().await;
    let stats = envs
        .get_environment_stats(bearer(
            pb::GetEnvironmentStatsRequest {
                environment_id: prod.id.clone(),
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            stats.room_count,
            stats.thread_count,
            stats.user_count,
            stats.comment_count
        ),
        (1, 1, 1, 1),
        "one room, one thread, alice, and alice's edited comment"
    );
    let browsed = envs
        .list_environment_threads(bearer(
            pb::ListEnvironmentThreadsRequest {
                environment_id: prod.id.clone(),
                room_id: room.id.clone(),
                ..Default::default()
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(browsed.threads.len(), 1);
    assert_eq!(browsed.threads[0].comment_count, 1);
    let browsed_users = envs
        .list_environment_users(bearer(
            pb::ListEnvironmentUsersRequest {
                environment_id: prod.id.clone(),
                ..Default::default()
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(browsed_users.users.len(), 1);
    let browsed_rooms = envs
        .list_environment_rooms(bearer(
            pb::ListEnvironmentRoomsRequest {
                environment_id: prod.id.clone(),
                ..Default::default()
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(browsed_rooms.rooms[0].id, "design:review");

    // Deleting the room removes its threads and comments.
    rooms
        .delete_room(bearer(
            pb::DeleteRoomRequest {
                room_id: room.id.clone(),
            },
            &prod.sk,
        ))
        .await
        .unwrap();
    let stats = envs
        .get_environment_stats(bearer(
            pb::GetEnvironmentStatsRequest {
                environment_id: prod.id.clone(),
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (stats.room_count, stats.thread_count, stats.comment_count),
        (0, 0, 0)
    );
}

async fn user_tokens_verify_with_a_standard_jwt_library(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let channel = app.channel().await;
    let token = mint(&channel, &prod.sk, "alice", 600).await;
    let keys = pb::auth_service_client::AuthServiceClient::new(channel.clone())
        .list_signing_keys(frontend(pb::ListSigningKeysRequest {}, &prod.pk, None))
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (
            key.algorithm.as_str(),
            key.crv.as_str(),
            key.public_key.len()
        ),
        ("EdDSA", "Ed25519", 32)
    );

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
    let decoding = jsonwebtoken::DecodingKey::from_ed_components(&key.x).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["pulse"]);
    validation.set_required_spec_claims(&["exp", "sub", "iss"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
    assert_eq!(data.claims["sub"], "alice");
    assert_eq!(data.claims["env"], prod.id.as_str());
    assert_eq!(data.claims["key_id"], prod.sk_id.as_str());
    assert!(data.claims["iat"].as_i64().unwrap() < data.claims["exp"].as_i64().unwrap());

    // Another environment's key does not verify it.
    let staging = environment(&app, "Staging").await;
    let other = pb::auth_service_client::AuthServiceClient::new(channel)
        .list_signing_keys(bearer(pb::ListSigningKeysRequest {}, &staging.sk))
        .await
        .unwrap()
        .into_inner()
        .keys;
    let wrong = jsonwebtoken::DecodingKey::from_ed_components(&other[0].x).unwrap();
    assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &wrong, &validation).is_err());
}

async fn tokens_die_with_their_key_and_environment(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let channel = app.channel().await;
    let mut auth = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let mut envs = app.environments().await;
    let token = mint(&channel, &prod.sk, "alice", 600).await;
    auth.who_am_i(frontend(pb::WhoAmIRequest {}, &prod.pk, Some(&token)))
        .await
        .unwrap();

    // Revoking the minting secret key kills its tokens, even with a valid pk.
    envs.revoke_key(bearer(
        pb::RevokeKeyRequest {
            id: prod.sk_id.clone(),
        },
        &app.admin_token,
    ))
    .await
    .unwrap();
    assert_code(
        auth.who_am_i(frontend(pb::WhoAmIRequest {}, &prod.pk, Some(&token)))
            .await,
        Code::Unauthenticated,
    );

    // Rotation: a token from the new secret key, then the environment is deleted.
    let rotated = envs
        .rotate_keys(bearer(
            pb::RotateKeysRequest {
                environment_id: prod.id.clone(),
                ..Default::default()
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let pk = rotated.publishable_key.unwrap().value;
    let token = mint(&channel, &rotated.secret_key, "alice", 600).await;
    auth.who_am_i(frontend(pb::WhoAmIRequest {}, &pk, Some(&token)))
        .await
        .unwrap();
    envs.delete_environment(bearer(
        pb::DeleteEnvironmentRequest {
            id: prod.id.clone(),
        },
        &app.admin_token,
    ))
    .await
    .unwrap();
    assert_code(
        auth.who_am_i(frontend(pb::WhoAmIRequest {}, &pk, Some(&token)))
            .await,
        Code::Unauthenticated,
    );
    assert_code(
        envs.get_environment_stats(bearer(
            pb::GetEnvironmentStatsRequest {
                environment_id: prod.id,
            },
            &app.admin_token,
        ))
        .await,
        Code::NotFound,
    );
}

async fn deleting_an_environment_deletes_its_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let channel = app.channel().await;
    let mut rooms = pb::room_service_client::RoomServiceClient::new(channel.clone());
    let mut threads = pb::thread_service_client::ThreadServiceClient::new(channel.clone());
    mint(&channel, &prod.sk, "alice", 60).await;
    rooms
        .create_room(bearer(
            pb::CreateRoomRequest {
                room_id: "r".into(),
                ..Default::default()
            },
            &prod.sk,
        ))
        .await
        .unwrap();
    threads
        .create_thread(bearer(
            pb::CreateThreadRequest {
                room_id: "r".into(),
                body: "b".into(),
                user_id: "alice".into(),
            },
            &prod.sk,
        ))
        .await
        .unwrap();
    app.environments()
        .await
        .delete_environment(bearer(
            pb::DeleteEnvironmentRequest {
                id: prod.id.clone(),
            },
            &app.admin_token,
        ))
        .await
        .unwrap();
    use sea_orm::{ConnectionTrait, Statement};
    let raw = sea_orm::Database::connect(&app.database_url).await.unwrap();
    for table in [
        "rooms",
        "threads",
        "comments",
        "users",
        "signing_keys",
        "api_keys",
    ] {
        let row = raw
            .query_one_raw(Statement::from_string(
                raw.get_database_backend(),
                format!(
                    "SELECT COUNT(*) AS n FROM {table} WHERE environment_id = '{}'",
                    prod.id
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(n, 0, "{table} still has rows of the deleted environment");
    }
}

both_backends!(
    backend_mints_frontend_collaborates,
    user_tokens_verify_with_a_standard_jwt_library,
    tokens_die_with_their_key_and_environment,
    deleting_an_environment_deletes_its_data,
);
