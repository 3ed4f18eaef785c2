//! Remembered authentication decisions (`src/auth/decisions.rs`) never
//! outlive a revocation: a caller that was let in a moment ago is refused
//! as soon as its key, its minting key or its environment dies.

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, bearer, spawn_app};

async fn remembered_callers_die_with_what_let_them_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env_id = created.environment.unwrap().id;
    let pk = created.publishable_key.unwrap().value;
    let admin = app.as_admin();

    // A second secret key mints a token; both callers are let in twice
    // (the second time from the remembered decision).
    let extra = admin
        .create_key(&env_id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap();
    let minting = extra.key.unwrap().id;
    let token = app
        .as_secret(&extra.secret_key)
        .mint_user_token("ada")
        .await
        .unwrap()
        .token;
    for _ in 0..2 {
        app.as_frontend(&pk, Some(&token)).whoami().await.unwrap();
        app.as_secret(&extra.secret_key).whoami().await.unwrap();
    }

    // Revoking the minting key refuses both at once; the environment's
    // other credentials keep working.
    admin.revoke_key(&minting).await.unwrap();
    assert_code(
        app.as_frontend(&pk, Some(&token)).whoami().await,
        Code::Unauthenticated,
    );
    assert_code(
        app.as_secret(&extra.secret_key).whoami().await,
        Code::Unauthenticated,
    );
    app.as_secret(&created.secret_key).whoami().await.unwrap();
    let fresh = app
        .as_secret(&created.secret_key)
        .mint_user_token("ada")
        .await
        .unwrap()
        .token;
    for _ in 0..2 {
        app.as_frontend(&pk, Some(&fresh)).whoami().await.unwrap();
        app.as_frontend(&pk, None)
            .list_signing_keys()
            .await
            .unwrap();
    }

    // Deleting the environment refuses every remembered caller of it.
    admin.delete_environment(&env_id).await.unwrap();
    assert_code(
        app.as_frontend(&pk, Some(&fresh)).whoami().await,
        Code::Unauthenticated,
    );
    assert_code(
        app.as_frontend(&pk, None).list_signing_keys().await,
        Code::Unauthenticated,
    );
    assert_code(
        app.as_secret(&created.secret_key).whoami().await,
        Code::Unauthenticated,
    );
}

/// A header that is present but empty is not an absent one: the secret
/// key let in a moment ago is refused when an empty publishable-key header
/// comes with it, as it was before decisions were remembered.
async fn an_empty_header_is_not_a_missing_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let sk = created.secret_key;
    for _ in 0..2 {
        app.as_secret(&sk).whoami().await.unwrap();
    }
    let mut request = bearer(pb::WhoAmIRequest {}, &sk);
    request.metadata_mut().insert(
        "x-pulse-publishable-key",
        tonic::metadata::MetadataValue::from_static(""),
    );
    let mut auth = pb::auth_service_client::AuthServiceClient::new(app.channel().await);
    assert_code(auth.who_am_i(request).await, Code::Unauthenticated);
}

both_backends!(
    remembered_callers_die_with_what_let_them_in,
    an_empty_header_is_not_a_missing_one,
);
