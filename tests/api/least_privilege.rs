//! Least privilege: restricted keys (`rk_`), revoking a user's tokens, and
//! users being whoever acts. (Room permissions: `room_permissions.rs`;
//! allowed networks: `networks.rs`; the permission matrix:
//! `permission_matrix.rs`.)

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::environment;
use crate::helpers::{Backend, assert_code, spawn_app};

/// An `rk_` does what its permissions say and nothing else; it is listed
/// and audited with them; rotations leave it alone; revocation ends it and
/// the user tokens it minted.
async fn restricted_keys_do_only_what_they_may(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    server.create_room("reports").await.unwrap();
    let thread = server
        .create_thread("reports", "q3 numbers", "alice")
        .await
        .unwrap();

    let created = admin
        .create_key_with(pb::CreateKeyRequest {
            environment_id: prod.id.clone(),
            kind: pb::ApiKeyKind::Restricted as i32,
            permissions: vec!["comments.read".into(), "rooms.read".into()],
            display_name: "analytics job".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let rk = created.secret_key.clone();
    assert!(rk.starts_with("rk_"), "{rk}");
    let info = created.key.unwrap();
    assert_eq!(info.kind, pb::ApiKeyKind::Restricted as i32);
    assert_eq!(info.permissions, ["rooms.read", "comments.read"]);
    assert_eq!(info.display_name, "analytics job");
    assert!(
        info.value.is_empty(),
        "a restricted key's value is never shown"
    );

    let analytics = app.as_secret(&rk);
    let who = analytics.whoami().await.unwrap();
    assert_eq!(who.kind, pb::ApiKeyKind::Restricted as i32);
    assert_eq!(who.environment_id, prod.id);
    assert_eq!(who.permissions, ["rooms.read", "comments.read"]);
    // Allowed: reads of rooms and comments; public keys.
    assert_eq!(analytics.list_rooms().await.unwrap().rooms.len(), 1);
    assert_eq!(
        analytics.list_comments(&thread.id).await.unwrap().comments[0].body,
        "q3 numbers"
    );
    analytics.list_signing_keys().await.unwrap();
    // Denied, naming the missing permission: writes, users, tokens.
    for (result, needed) in [
        (
            analytics
                .create_comment(&thread.id, "x", "alice")
                .await
                .map(drop),
            "comments.write",
        ),
        (analytics.create_room("new").await.map(drop), "rooms.write"),
        (analytics.delete_room("reports").await, "rooms.write"),
        (analytics.list_users().await.map(drop), "users.read"),
        (
            analytics.mint_user_token("alice").await.map(drop),
            "tokens.write",
        ),
        (
            analytics.revoke_user_tokens("alice").await.map(drop),
            "tokens.write",
        ),
    ] {
        let status = assert_code(result, Code::PermissionDenied);
        assert_eq!(status.message(), format!("requires {needed}"));
    }
    // Nothing was written by the denied calls.
    let comments = server.list_comments(&thread.id).await.unwrap().comments;
    assert_eq!(comments.len(), 1);

    // write implies read; a token minted by an rk_ with tokens.write works.
    let writer = admin
        .create_restricted_key(&prod.id, &["comments.write", "tokens.write"])
        .await
        .unwrap();
    let writer_key = writer.key.unwrap();
    let writer = app.as_secret(&writer.secret_key);
    writer.list_comments(&thread.id).await.unwrap();
    writer
        .create_comment(&thread.id, "from the writer", "bob")
        .await
        .unwrap();
    let token = writer.mint_user_token("carol").await.unwrap().token;
    let as_carol = app.as_frontend(&prod.pk, Some(&token));
    assert_eq!(as_carol.whoami().await.unwrap().user_id, "carol");

    // Listed with their permissions; audited with them (never the key).
    let keys = admin.list_keys(&prod.id).await.unwrap().keys;
    let listed = keys.iter().find(|k| k.id == info.id).unwrap();
    assert_eq!(listed.permissions, ["rooms.read", "comments.read"]);
    assert_eq!(listed.display_name, "analytics job");
    let events = admin
        .list_audit_events(pb::ListAuditEventsRequest {
            r#type: "key.created".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .events;
    let event = events.iter().find(|e| e.target_id == info.id).unwrap();
    assert_eq!(event.details["kind"], "restricted");
    assert_eq!(event.details["permissions"], "rooms.read,comments.read");
    assert_eq!(event.details["display_name"], "analytics job");
    assert!(!format!("{events:?}").contains(&rk[3..]), "no key material");

    // RotateKeys leaves restricted keys alone.
    let rotated = admin.rotate_keys(&prod.id, 0).await.unwrap();
    assert!(
        rotated
            .keys
            .iter()
            .all(|k| k.kind != pb::ApiKeyKind::Restricted as i32),
        "a rotation revokes no restricted key: {:?}",
        rotated.keys
    );
    analytics.whoami().await.unwrap();
    let new_pk = rotated.publishable_key.unwrap().value;
    // (carol's token was minted by the rk_, which still works.)
    app.as_frontend(&new_pk, Some(&token))
        .whoami()
        .await
        .unwrap();

    // RevokeKey ends the rk_ and the tokens it minted.
    admin.revoke_key(&writer_key.id).await.unwrap();
    assert_code(writer.whoami().await, Code::Unauthenticated);
    assert_code(
        app.as_frontend(&new_pk, Some(&token)).whoami().await,
        Code::Unauthenticated,
    );

    // DeleteEnvironment ends every restricted key.
    admin.delete_environment(&prod.id).await.unwrap();
    assert_code(analytics.whoami().await, Code::Unauthenticated);
}

/// Bad restricted-key requests are INVALID_ARGUMENT naming what is wrong.
async fn restricted_key_requests_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let prod = environment(&app, "Production").await;
    let request =
        |kind: pb::ApiKeyKind, permissions: &[&str], cidrs: &[&str]| pb::CreateKeyRequest {
            environment_id: prod.id.clone(),
            kind: kind as i32,
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            allowed_cidrs: cidrs.iter().map(|c| (*c).to_owned()).collect(),
            ..Default::default()
        };
    use pb::ApiKeyKind::{Publishable, Restricted, Secret};
    let too_many: Vec<String> = (0..33).map(|i| format!("10.0.{i}.0/24")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    for (req, mention) in [
        (request(Restricted, &[], &[]), "permissions"),
        (
            request(Restricted, &["comments.read", "comments.delete"], &[]),
            "comments.delete",
        ),
        (request(Restricted, &["users.write"], &[]), "users.write"),
        (request(Secret, &["rooms.read"], &[]), "permissions"),
        (
            request(Restricted, &["rooms.read"], &["10.0.0.0/33"]),
            "10.0.0.0/33",
        ),
        (request(Secret, &[], &too_many), "allowed_cidrs"),
        (request(Publishable, &[], &["10.0.0.0/8"]), "allowed_cidrs"),
    ] {
        let status = assert_code(admin.create_key_with(req).await, Code::InvalidArgument);
        let details = format!("{status:?}");
        assert!(details.contains(mention), "{mention}: {details}");
    }
    // Nothing was created.
    assert_eq!(admin.list_keys(&prod.id).await.unwrap().keys.len(), 2);
    // Allowed networks are listed in canonical form.
    let key = admin
        .create_key_with(request(Secret, &[], &["10.1.2.3/8", "2001:db8::1"]))
        .await
        .unwrap()
        .key
        .unwrap();
    assert_eq!(key.allowed_cidrs, ["10.0.0.0/8", "2001:db8::1/128"]);
}

/// RevokeUserTokens ends the user's earlier tokens at once (and across a
/// restart); tokens minted afterwards, and other users' tokens, work.
async fn revoking_a_users_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    let old = server.mint_user_token("alice").await.unwrap().token;
    let bobs = server.mint_user_token("bob").await.unwrap().token;
    let as_old = app.as_frontend(&prod.pk, Some(&old));
    as_old.whoami().await.unwrap();

    let revoked = server.revoke_user_tokens("alice").await.unwrap();
    assert_eq!(revoked.user_id, "alice");
    assert_code(as_old.whoami().await, Code::Unauthenticated);
    // Minted right after (within the same second): works.
    let new = server.mint_user_token("alice").await.unwrap().token;
    app.as_frontend(&prod.pk, Some(&new))
        .whoami()
        .await
        .unwrap();
    app.as_frontend(&prod.pk, Some(&bobs))
        .whoami()
        .await
        .unwrap();
    // Revoked again at once (well within the same second): the token
    // minted in between is before the second line.
    server.revoke_user_tokens("alice").await.unwrap();
    assert_code(
        app.as_frontend(&prod.pk, Some(&new)).whoami().await,
        Code::Unauthenticated,
    );
    for _ in 0..5 {
        let between = server.mint_user_token("alice").await.unwrap().token;
        server.revoke_user_tokens("alice").await.unwrap();
        assert_code(
            app.as_frontend(&prod.pk, Some(&between)).whoami().await,
            Code::Unauthenticated,
        );
    }
    let new = server.mint_user_token("alice").await.unwrap().token;
    app.as_frontend(&prod.pk, Some(&new))
        .whoami()
        .await
        .unwrap();

    // The admin twin, for bob; an rk_ needs tokens.write.
    let admin = app.as_admin();
    admin
        .revoke_environment_user_tokens(&prod.id, "bob")
        .await
        .unwrap();
    assert_code(
        app.as_frontend(&prod.pk, Some(&bobs)).whoami().await,
        Code::Unauthenticated,
    );
    let other = environment(&app, "Staging").await;
    assert_code(
        admin
            .revoke_environment_user_tokens("env_nope", "bob")
            .await,
        Code::NotFound,
    );
    assert_code(
        server.revoke_user_tokens("not a user id").await,
        Code::InvalidArgument,
    );
    // Staging's alice is another user: untouched.
    let staging_alice = app
        .as_secret(&other.sk)
        .mint_user_token("alice")
        .await
        .unwrap()
        .token;
    app.as_frontend(&other.pk, Some(&staging_alice))
        .whoami()
        .await
        .unwrap();

    // Audited, naming the user and who did it.
    let events = admin
        .list_audit_events(pb::ListAuditEventsRequest {
            r#type: "user_tokens.revoked".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .events;
    let targets: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.target_id.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(targets.len(), 8, "{events:?}");
    assert_eq!(targets[0], ("alice", prod.sk_id.as_str()));
    assert_eq!(targets[7].0, "bob");
    assert!(targets[7].1.starts_with("adm_"), "{targets:?}");

    // Persisted: a restart still refuses the old token, accepts the new.
    let app = app.restart().await;
    assert_code(
        app.as_frontend(&prod.pk, Some(&old)).whoami().await,
        Code::Unauthenticated,
    );
    app.as_frontend(&prod.pk, Some(&new))
        .whoami()
        .await
        .unwrap();
}

/// A comment author who never had a token is a user of the environment.
async fn users_are_whoever_acts(backend: Backend) {
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let server = app.as_secret(&prod.sk);
    server.create_room("r").await.unwrap();
    let thread = server.create_thread("r", "hi", "dave").await.unwrap();
    server
        .create_comment(&thread.id, "again", "dave")
        .await
        .unwrap();
    server
        .create_comment(&thread.id, "me too", "erin")
        .await
        .unwrap();
    let users = server.list_users().await.unwrap().users;
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["dave", "erin"]);
    assert_eq!(
        users[0].name, "",
        "an empty profile until a token is minted"
    );
    let stats = app.as_admin().environment_stats(&prod.id).await.unwrap();
    assert_eq!(stats.user_count, 2);
    // A later token with a profile fills it in; the count stays.
    server
        .mint(pb::MintUserTokenRequest {
            user_id: "dave".into(),
            user_info: Some(pb::UserInfo {
                name: "Dave".into(),
                avatar_url: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(server.get_user("dave").await.unwrap().name, "Dave");
    let stats = app.as_admin().environment_stats(&prod.id).await.unwrap();
    assert_eq!(stats.user_count, 2);
}

both_backends!(
    restricted_keys_do_only_what_they_may,
    restricted_key_requests_are_checked,
    revoking_a_users_tokens,
    users_are_whoever_acts
);
