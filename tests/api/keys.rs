//! API keys: listing, rotation and revocation taking effect at once, and
//! which credential may call what.

use std::time::Duration;

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, eventually, spawn_app};

async fn list_keys_shows_prefixes_and_only_publishable_values(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let keys = app.as_admin().list_keys(&env_id).await.unwrap().keys;
    assert_eq!(keys.len(), 2);
    let pk = keys
        .iter()
        .find(|k| k.kind == pb::ApiKeyKind::Publishable as i32)
        .unwrap();
    let sk = keys
        .iter()
        .find(|k| k.kind == pb::ApiKeyKind::Secret as i32)
        .unwrap();
    assert_eq!(pk.value, created.publishable_key.unwrap().value);
    assert!(sk.value.is_empty(), "a secret key is never shown again");
    assert_eq!(sk.prefix, &created.secret_key[..12]);
    for k in &keys {
        assert_eq!(k.state, pb::ApiKeyState::Active as i32);
        assert_eq!(k.environment_id, env_id);
        assert!(k.create_time.is_some());
    }
}

async fn rotation_kills_the_old_pair_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let old_sk = created.secret_key.clone();
    let old_pk = created.publishable_key.unwrap().value;

    // Warm the key index so a stale cache entry would be served if we had one.
    let who = app.as_secret(&old_sk).whoami().await.unwrap();
    assert_eq!(who.environment_id, env_id);
    assert_eq!(who.kind, pb::ApiKeyKind::Secret as i32);

    let rotated = app.as_admin().rotate_keys(&env_id, 0).await.unwrap();
    assert_eq!(rotated.keys.len(), 2, "both old keys are reported revoked");
    assert!(
        rotated
            .keys
            .iter()
            .all(|k| k.state == pb::ApiKeyState::Revoked as i32)
    );
    assert_ne!(rotated.secret_key, old_sk);

    let status = assert_code(app.as_secret(&old_sk).whoami().await, Code::Unauthenticated);
    assert_eq!(status.message(), "invalid credentials");
    // The old publishable key no longer identifies the environment either.
    assert_code(
        app.as_frontend(&old_pk, None).list_signing_keys().await,
        Code::Unauthenticated,
    );
    let who = app.as_secret(&rotated.secret_key).whoami().await.unwrap();
    assert_eq!(who.environment_id, env_id);

    let keys = app.as_admin().list_keys(env_id).await.unwrap().keys;
    let active = keys
        .iter()
        .filter(|k| k.state == pb::ApiKeyState::Active as i32)
        .count();
    assert_eq!((keys.len(), active), (4, 2));
}

async fn revocation_is_immediate_and_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let sk_id = created.secret_key_info.unwrap().id;
    let server = app.as_secret(&created.secret_key);
    let admin = app.as_admin();
    server.whoami().await.unwrap();

    let revoked = admin.revoke_key(&sk_id).await.unwrap();
    assert_eq!(revoked.state, pb::ApiKeyState::Revoked as i32);
    assert_code(server.whoami().await, Code::Unauthenticated);
    let again = admin.revoke_key(sk_id).await.unwrap();
    assert_eq!(again, revoked);
    // Still revoked after the cache entries have been rebuilt from the database.
    let app = app.restart().await;
    assert_code(
        app.as_secret(&created.secret_key).whoami().await,
        Code::Unauthenticated,
    );
}

async fn credentials_are_checked_before_and_against_the_rpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let sk = created.secret_key.clone();
    let pk = created.publishable_key.unwrap().value;
    let mut accounts = app.as_anonymous().accounts_client();

    // UNAUTHENTICATED: none, malformed, bad checksum, unknown, pk alone.
    assert_code(
        app.as_anonymous().list_environments().await,
        Code::Unauthenticated,
    );
    let mut corrupted = app.admin_token.clone().into_bytes();
    let last = corrupted.len() - 1;
    corrupted[last] = if corrupted[last] == b'A' { b'B' } else { b'A' };
    let corrupted = String::from_utf8(corrupted).unwrap();
    let unknown = pulse::auth::credential::generate(pulse::auth::credential::CredentialKind::Admin);
    for bad in [
        "",
        "ak_",
        "garbage",
        corrupted.as_str(),
        unknown.plaintext.expose(),
        pk.as_str(),
    ] {
        let status = assert_code(
            app.as_admin_token(bad).list_environments().await,
            Code::Unauthenticated,
        );
        assert_eq!(status.message(), "invalid credentials");
    }
    let mut basic = tonic::Request::new(pb::GetAccountRequest {});
    basic.metadata_mut().insert(
        "authorization",
        format!("Basic {}", app.admin_token).parse().unwrap(),
    );
    assert_code(accounts.get_account(basic).await, Code::Unauthenticated);
    assert_code(
        app.as_frontend(&pk, None).whoami().await,
        Code::Unauthenticated,
    );

    // PERMISSION_DENIED: valid credential, wrong RPC.
    let server = app.as_secret(&sk);
    assert_code(server.list_environments().await, Code::PermissionDenied);
    assert_code(server.get_account().await, Code::PermissionDenied);
    assert_code(app.as_admin().whoami().await, Code::PermissionDenied);
}

both_backends!(
    list_keys_shows_prefixes_and_only_publishable_values,
    rotation_kills_the_old_pair_at_once,
    revocation_is_immediate_and_idempotent,
    credentials_are_checked_before_and_against_the_rpc,
    last_use_times_are_recorded_at_most_once_a_minute,
);

async fn last_use_times_are_recorded_at_most_once_a_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let sk_id = created.secret_key_info.unwrap().id;
    let pk = created.publishable_key.unwrap();
    let (pk_id, pk) = (pk.id, pk.value);
    let admin = app.as_admin();
    let server = app.as_secret(&created.secret_key);
    let sk_use = |keys: &[pb::ApiKey]| keys.iter().find(|k| k.id == sk_id).unwrap().last_use_time;
    let list = || async { admin.list_keys(&env_id).await.unwrap().keys };
    assert!(sk_use(&list().await).is_none(), "never used yet");

    server.whoami().await.unwrap();
    // Written in the background within about a second.
    let first = eventually(Duration::from_secs(5), "last_use_time recorded", || async {
        sk_use(&list().await)
    })
    .await;
    // More calls within the minute: no new write. A first use of the
    // publishable key afterwards is written by the same flush as anything
    // they queued, or a later one: once it shows, theirs would too.
    for _ in 0..20 {
        server.whoami().await.unwrap();
    }
    app.as_frontend(&pk, None)
        .list_signing_keys()
        .await
        .unwrap();
    let pk_use = |keys: &[pb::ApiKey]| keys.iter().find(|k| k.id == pk_id).unwrap().last_use_time;
    eventually(
        Duration::from_secs(5),
        "the publishable key's use written",
        || async { pk_use(&list().await) },
    )
    .await;
    assert_eq!(sk_use(&list().await), Some(first));
    // The admin token used for all this has one too.
    let tokens = admin.list_admin_tokens().await.unwrap().admin_tokens;
    assert!(tokens[0].last_use_time.is_some());
}
