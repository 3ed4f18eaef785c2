//! Tokens that end at a deadline: user tokens at their `exp`, admin tokens
//! at their `expire_time`. Used up to just before and refused just after,
//! with the verification caches warm.

use pulse::pb::Role;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, environment, mint, spawn_app};
use crate::{advance, in_seconds, serial};

async fn user_tokens_end_at_their_exp(backend: Backend) {
    let _serial = serial().await;
    let app = spawn_app(backend).await;
    let prod = environment(&app, "Production").await;
    let channel = app.channel().await;
    let token = mint(&channel, &prod.sk, "alice", 600).await;
    let as_alice = app.as_frontend(&prod.pk, Some(&token));
    // Twice: the second call is served from what the first remembered.
    as_alice.whoami().await.unwrap();
    as_alice.whoami().await.unwrap();
    advance(590);
    as_alice.whoami().await.expect("valid until exp");
    advance(15);
    assert_code(as_alice.whoami().await, Code::Unauthenticated);
    // The key that minted it still mints tokens that work.
    let fresh = mint(&channel, &prod.sk, "alice", 600).await;
    app.as_frontend(&prod.pk, Some(&fresh))
        .whoami()
        .await
        .unwrap();
}

async fn admin_tokens_end_at_their_expire_time(backend: Backend) {
    let _serial = serial().await;
    let app = spawn_app(backend).await;
    let owner = app.as_admin();
    let short = owner
        .create_scoped_admin_token(Role::Viewer, &[], Some(in_seconds(3600)))
        .await
        .unwrap();
    assert!(short.admin_token.unwrap().expire_time.is_some());
    let short = app.as_admin_token(&short.token);
    short.get_account().await.unwrap();
    short.get_account().await.unwrap();
    advance(3590);
    short.get_account().await.expect("valid until expire_time");
    advance(20);
    assert_code(short.get_account().await, Code::Unauthenticated);
    // The token that created it has no expiry.
    owner.get_account().await.unwrap();
}

both_backends!(
    user_tokens_end_at_their_exp,
    admin_tokens_end_at_their_expire_time,
);
