//! API keys that end at a deadline: an `expire_time`, and the grace period
//! of a rotated-away secret key. Both are used up to just before the
//! deadline and refused just after it, with every cache warm.

use std::time::Duration;

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_code, spawn_app};
use crate::{advance, in_seconds, serial};

async fn who(app: &TestApp, sk: &str) -> Result<pb::WhoAmIResponse, tonic::Status> {
    app.as_secret(sk).whoami().await
}

async fn expiring_keys_stop_at_their_deadline(backend: Backend) {
    let _serial = serial().await;
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let pk = created.publishable_key.unwrap().value;
    let expiring = app
        .as_admin()
        .create_key(&env_id, pb::ApiKeyKind::Secret, Some(in_seconds(3600)))
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

    advance(3590);
    who(&app, &sk).await.expect("works until its deadline");
    as_user().whoami().await.unwrap();
    advance(20);
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

async fn grace_period_rotation_keeps_the_old_secret_until_its_deadline(backend: Backend) {
    let _serial = serial().await;
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let old_pk = created.publishable_key.unwrap().value;
    let old_sk = created.secret_key.clone();
    let admin = app.as_admin();
    let old_server = app.as_secret(&old_sk);
    old_server.whoami().await.unwrap();

    assert_code(admin.rotate_keys(&env_id, -1).await, Code::InvalidArgument);
    let rotated = admin.rotate_keys(&env_id, 3600).await.unwrap();
    let new_server = app.as_secret(&rotated.secret_key);
    // The old publishable key dies at once; the old secret key lives on.
    assert_code(
        app.as_frontend(&old_pk, None).list_signing_keys().await,
        Code::Unauthenticated,
    );
    let old_sk_meta = rotated
        .keys
        .iter()
        .find(|k| k.kind == pb::ApiKeyKind::Secret as i32)
        .unwrap();
    assert_eq!(
        old_sk_meta.state,
        pb::ApiKeyState::Active as i32,
        "active until its revoke_time"
    );
    assert!(old_sk_meta.revoke_time.is_some());
    old_server.whoami().await.unwrap();
    new_server.whoami().await.unwrap();
    // Works until the deadline, not after.
    advance(3590);
    old_server.whoami().await.expect("works until its deadline");
    advance(20);
    assert_code(old_server.whoami().await, Code::Unauthenticated);
    new_server.whoami().await.unwrap();
    let keys = admin.list_keys(env_id).await.unwrap().keys;
    let states: Vec<i32> = keys.iter().map(|k| k.state).collect();
    let active = pb::ApiKeyState::Active as i32;
    assert_eq!(
        states.iter().filter(|s| **s == active).count(),
        2,
        "only the new pair: {states:?}"
    );
}

/// A key's calls after its expiry are counted as failures, reason
/// "expired", in its usage.
async fn calls_after_expiry_count_as_expired(backend: Backend) {
    let _serial = serial().await;
    let app = spawn_app(backend).await;
    let env = app
        .create_environment("Production")
        .await
        .environment
        .unwrap();
    let admin = app.as_admin();
    let brief = admin
        .create_key(&env.id, pb::ApiKeyKind::Secret, Some(in_seconds(60)))
        .await
        .unwrap();
    let brief_id = brief.key.unwrap().id;
    let brief = app.as_secret(&brief.secret_key);
    brief.whoami().await.unwrap();
    advance(61);
    assert_code(brief.whoami().await, Code::Unauthenticated);
    assert_code(brief.whoami().await, Code::Unauthenticated);
    // (success, failure, expired), once the flush (every second) wrote them.
    let totals = || async {
        let buckets = admin
            .environments_client()
            .get_key_usage(admin.request(pb::GetKeyUsageRequest {
                key_id: brief_id.clone(),
                granularity: pb::UsageGranularity::Hour as i32,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .buckets;
        buckets.iter().fold((0, 0, 0), |(s, f, e), b| {
            (
                s + b.success_count,
                f + b.failure_count,
                e + b.expired_count,
            )
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let seen = loop {
        let seen = totals().await;
        if seen == (1, 2, 2) || tokio::time::Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(seen, (1, 2, 2), "(success, failure, expired), within 5 s");
}

both_backends!(
    expiring_keys_stop_at_their_deadline,
    grace_period_rotation_keeps_the_old_secret_until_its_deadline,
    calls_after_expiry_count_as_expired,
);
