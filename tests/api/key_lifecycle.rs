//! `CreateKey` (several working keys for zero-downtime swaps) and key
//! expiry (`expire_time`), including user tokens minted by an expiring key.

use std::time::Duration;

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_code, spawn_app};

async fn who(app: &TestApp, sk: &str) -> Result<pb::WhoAmIResponse, tonic::Status> {
    app.as_secret(sk).whoami().await
}

fn in_seconds(secs: f64) -> prost_types::Timestamp {
    let now = std::time::SystemTime::now();
    let at = if secs >= 0.0 {
        now + Duration::from_secs_f64(secs)
    } else {
        now - Duration::from_secs_f64(-secs)
    };
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap();
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

async fn create_key_allows_a_zero_downtime_swap(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let old_sk = created.secret_key;
    let admin = app.as_admin();

    let new = admin
        .create_key(&env_id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap();
    let new_sk = new.secret_key.clone();
    let info = new.key.unwrap();
    assert!(new_sk.starts_with("sk_") && info.value.is_empty());
    assert_eq!(info.state, pb::ApiKeyState::Active as i32);
    assert_eq!(info.prefix, &new_sk[..12]);
    // Both work while backends move to the new key...
    assert_eq!(who(&app, &old_sk).await.unwrap().environment_id, env_id);
    assert_eq!(who(&app, &new_sk).await.unwrap().environment_id, env_id);
    // ...then the old one is revoked and only the new one works.
    let old_id = app
        .list_keys(&env_id)
        .await
        .into_iter()
        .find(|k| k.kind == pb::ApiKeyKind::Secret as i32 && old_sk.starts_with(&k.prefix))
        .unwrap()
        .id;
    admin.revoke_key(old_id).await.unwrap();
    assert_code(who(&app, &old_sk).await, Code::Unauthenticated);
    assert_eq!(who(&app, &new_sk).await.unwrap().environment_id, env_id);

    // A second publishable key: its value is public, no secret returned.
    let pk = admin
        .create_key(&env_id, pb::ApiKeyKind::Publishable, None)
        .await
        .unwrap();
    assert!(pk.secret_key.is_empty());
    assert!(pk.key.unwrap().value.starts_with("pk_"));
}

async fn create_key_is_validated_and_bounded(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let admin = app.as_admin();
    assert_code(
        admin
            .create_key(&env_id, pb::ApiKeyKind::Unspecified, None)
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        admin
            .create_key(&env_id, pb::ApiKeyKind::Secret, Some(in_seconds(-10.0)))
            .await,
        Code::InvalidArgument,
    );
    let far = prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    };
    assert_code(
        admin
            .create_key(&env_id, pb::ApiKeyKind::Secret, Some(far))
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        admin
            .create_key("env_unknown", pb::ApiKeyKind::Secret, None)
            .await,
        Code::NotFound,
    );
    assert_code(
        app.as_secret(&created.secret_key)
            .create_key(&env_id, pb::ApiKeyKind::Secret, None)
            .await,
        Code::PermissionDenied,
    );
    // One secret key exists; four more fit, the sixth is refused.
    for _ in 0..4 {
        admin
            .create_key(&env_id, pb::ApiKeyKind::Secret, None)
            .await
            .unwrap();
    }
    let status = assert_code(
        admin
            .create_key(&env_id, pb::ApiKeyKind::Secret, None)
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("revoke one first"), "{status:?}");
    // Publishable keys are counted separately.
    admin
        .create_key(&env_id, pb::ApiKeyKind::Publishable, None)
        .await
        .unwrap();
    // Rotation replaces every working key with one new pair.
    admin.rotate_keys(&env_id, 0).await.unwrap();
    let keys = app.list_keys(&env_id).await;
    let active = keys
        .iter()
        .filter(|k| k.state == pb::ApiKeyState::Active as i32)
        .count();
    assert_eq!((keys.len(), active), (9, 2));
}

async fn expiring_keys_stop_at_their_deadline(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let pk = created.publishable_key.unwrap().value;
    let expiring = app
        .as_admin()
        .create_key(&env_id, pb::ApiKeyKind::Secret, Some(in_seconds(1.5)))
        .await
        .unwrap();
    let sk = expiring.secret_key;
    assert!(expiring.key.unwrap().expire_time.is_some());
    // Works until then, and so do the user tokens it mints (warm every cache).
    assert_eq!(who(&app, &sk).await.unwrap().environment_id, env_id);
    let token = app
        .as_secret(&sk)
        .mint_user_token("ada")
        .await
        .unwrap()
        .token;
    let as_user = || app.as_frontend(&pk, Some(&token));
    as_user().whoami().await.unwrap();

    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_code(who(&app, &sk).await, Code::Unauthenticated);
    assert_code(as_user().whoami().await, Code::Unauthenticated);
    // The environment's own keys are untouched; the expired one says so.
    assert_eq!(
        who(&app, &created.secret_key).await.unwrap().environment_id,
        env_id
    );
    let keys = app.list_keys(&env_id).await;
    let states: Vec<i32> = keys.iter().map(|k| k.state).collect();
    assert_eq!(
        states,
        [
            pb::ApiKeyState::Active as i32,
            pb::ApiKeyState::Active as i32,
            pb::ApiKeyState::Expired as i32
        ]
    );
    // A restart reads the expiry from the database.
    let app = app.restart().await;
    assert_code(who(&app, &sk).await, Code::Unauthenticated);
}

both_backends!(
    create_key_allows_a_zero_downtime_swap,
    create_key_is_validated_and_bounded,
    expiring_keys_stop_at_their_deadline,
);
