//! `CreateKey` (several working keys for zero-downtime swaps) and its
//! validation. Keys that stop at their `expire_time` are tested with a
//! moved clock (`tests/clock/keys.rs`).

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

both_backends!(
    create_key_allows_a_zero_downtime_swap,
    create_key_is_validated_and_bounded,
);
