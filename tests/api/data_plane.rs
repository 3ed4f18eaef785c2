//! The data plane as customers use it: a backend mints a user token with
//! its secret key; a frontend calls with the publishable key and the token.

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, environment, mint, query_count, spawn_app};

async fn backend_mints_frontend_collaborates(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    let admin = app.as_admin();

    // Backend: mint a token for alice (upserts her profile).
    let minted = server
        .mint(pb::MintUserTokenRequest {
            user_id: "alice".into(),
            user_info: Some(pb::UserInfo {
                name: "Alice".into(),
                avatar_url: "https://a/img.png".into(),
            }),
            ttl_seconds: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    let alice = minted.token.clone();
    let exp = minted.expire_time.unwrap().seconds;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((exp - now - 3600).abs() < 30, "ttl 0 means one hour");

    // Frontend: pk + token.
    let as_alice = app.as_frontend(&prod.pk, Some(&alice));
    let who = as_alice.whoami().await.unwrap();
    assert_eq!(who.environment_id, prod.id);
    assert_eq!(who.user_id, "alice");
    assert_eq!(who.kind, pb::ApiKeyKind::Publishable as i32);

    let room = as_alice
        .create_room_with(
            "design:review",
            [("color".to_string(), "blue".to_string())].into(),
        )
        .await
        .unwrap();
    assert_eq!(room.id, "design:review");
    assert_eq!(room.metadata["color"], "blue");
    assert_code(
        server.create_room("design:review").await,
        Code::AlreadyExists,
    );

    let thread = as_alice
        .create_thread(&room.id, "first!", "")
        .await
        .unwrap();
    assert!(thread.id.starts_with("th_"));
    assert_eq!(thread.comment_count, 1);

    // A backend names the author; a user may not speak for someone else.
    let by_bob = server
        .create_comment(&thread.id, "from the server", "bob")
        .await
        .unwrap();
    assert_eq!(by_bob.user_id, "bob");
    let s = assert_code(
        server.create_comment(&thread.id, "x", "").await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("user_id"));
    assert_code(
        as_alice.create_comment(&thread.id, "x", "bob").await,
        Code::PermissionDenied,
    );
    assert_code(
        as_alice
            .create_comment(&thread.id, "y".repeat(10_001), "")
            .await,
        Code::InvalidArgument,
    );

    // Alice may edit and delete only her own comments.
    assert_code(
        as_alice.update_comment(&by_bob.id, "hacked").await,
        Code::PermissionDenied,
    );
    assert_code(
        as_alice.delete_comment(&by_bob.id).await,
        Code::PermissionDenied,
    );
    let comments = as_alice.list_comments(&thread.id).await.unwrap().comments;
    assert_eq!(comments.len(), 2);
    let mine = comments.iter().find(|c| c.user_id == "alice").unwrap();
    let edited = as_alice.update_comment(&mine.id, "edited").await.unwrap();
    assert_eq!(edited.body, "edited");
    assert!(edited.edit_time.is_some());
    // The backend may moderate anything.
    server.delete_comment(&by_bob.id).await.unwrap();

    let user = as_alice.get_user("alice").await.unwrap();
    assert_eq!(
        (user.name.as_str(), user.avatar_url.as_str()),
        ("Alice", "https://a/img.png")
    );

    // A user token cannot mint; an admin token cannot use the data plane.
    assert_code(
        as_alice.mint_user_token("eve").await,
        Code::PermissionDenied,
    );
    assert_code(admin.mint_user_token("eve").await, Code::PermissionDenied);
    assert_code(
        server
            .mint(pb::MintUserTokenRequest {
                user_id: "eve".into(),
                ttl_seconds: 86_401,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_code(admin.list_rooms().await, Code::PermissionDenied);

    // Admin view: stats and browse match what was created.
    let stats = admin.environment_stats(&prod.id).await.unwrap();
    assert_eq!(
        (
            stats.room_count,
            stats.thread_count,
            stats.user_count,
            stats.comment_count
        ),
        (1, 1, 2, 1),
        "one room, one thread, alice and bob (who authored a comment through \
         the backend: users are who acts), and alice's edited comment"
    );
    let browsed = admin
        .list_environment_threads(&prod.id, &room.id)
        .await
        .unwrap();
    assert_eq!(browsed.threads.len(), 1);
    assert_eq!(browsed.threads[0].comment_count, 1);
    let comments = admin
        .list_environment_comments(&prod.id, &thread.id)
        .await
        .unwrap()
        .comments;
    let bodies: Vec<_> = comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["edited"], "the admin reads what alice wrote");
    // The thread belongs to Production: through another environment it
    // does not exist.
    let staging = environment(&app, "Staging").await;
    assert_code(
        admin
            .list_environment_comments(&staging.id, &thread.id)
            .await,
        Code::NotFound,
    );
    let browsed_users = admin.list_environment_users(&prod.id).await.unwrap();
    let names: Vec<_> = browsed_users.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    let browsed_rooms = admin.list_environment_rooms(&prod.id).await.unwrap();
    assert_eq!(browsed_rooms.rooms[0].id, "design:review");

    // Deleting the room removes its threads and comments.
    server.delete_room(&room.id).await.unwrap();
    let stats = admin.environment_stats(&prod.id).await.unwrap();
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
    let keys = app
        .as_frontend(&prod.pk, None)
        .list_signing_keys()
        .await
        .unwrap()
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
    let other = app
        .as_secret(&staging.sk)
        .list_signing_keys()
        .await
        .unwrap()
        .keys;
    let wrong = jsonwebtoken::DecodingKey::from_ed_components(&other[0].x).unwrap();
    assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &wrong, &validation).is_err());
}

async fn tokens_die_with_their_key_and_environment(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let channel = app.channel().await;
    let admin = app.as_admin();
    let token = mint(&channel, &prod.sk, "alice", 600).await;
    let as_alice = app.as_frontend(&prod.pk, Some(&token));
    as_alice.whoami().await.unwrap();

    // Revoking the minting secret key kills its tokens, even with a valid pk.
    admin.revoke_key(&prod.sk_id).await.unwrap();
    assert_code(as_alice.whoami().await, Code::Unauthenticated);

    // Rotation: a token from the new secret key, then the environment is deleted.
    let rotated = admin.rotate_keys(&prod.id, 0).await.unwrap();
    let pk = rotated.publishable_key.unwrap().value;
    let token = mint(&channel, &rotated.secret_key, "alice", 600).await;
    let as_alice = app.as_frontend(&pk, Some(&token));
    as_alice.whoami().await.unwrap();
    admin.delete_environment(&prod.id).await.unwrap();
    assert_code(as_alice.whoami().await, Code::Unauthenticated);
    assert_code(admin.environment_stats(prod.id).await, Code::NotFound);
}

async fn deleting_an_environment_deletes_its_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let channel = app.channel().await;
    let server = app.as_secret(&prod.sk);
    mint(&channel, &prod.sk, "alice", 60).await;
    server.create_room("r").await.unwrap();
    server.create_thread("r", "b", "alice").await.unwrap();
    app.as_admin().delete_environment(&prod.id).await.unwrap();
    for table in [
        "rooms",
        "threads",
        "comments",
        "users",
        "signing_keys",
        "api_keys",
    ] {
        let n = query_count(
            &app.database_url,
            &format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE environment_id = '{}'",
                prod.id
            ),
        )
        .await;
        assert_eq!(n, 0, "{table} still has rows of the deleted environment");
    }
}

both_backends!(
    backend_mints_frontend_collaborates,
    user_tokens_verify_with_a_standard_jwt_library,
    tokens_die_with_their_key_and_environment,
    deleting_an_environment_deletes_its_data,
);
