//! `AccountService`: the caller's account and admin tokens.

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, spawn_app};

async fn get_account_returns_the_tokens_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.as_admin().get_account().await.unwrap();
    assert_eq!(account.id, app.account_id);
    assert_eq!(account.display_name, "default");
    assert!(account.create_time.is_some());
}

async fn admin_token_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let created = admin.create_admin_token("ops laptop").await.unwrap();
    let meta = created.admin_token.unwrap();
    assert!(created.token.starts_with("ak_"));
    assert_eq!(meta.prefix, &created.token[..12]);
    assert_eq!(meta.state, pb::AdminTokenState::Active as i32);

    // The new token works.
    let laptop = app.as_admin_token(&created.token);
    laptop.get_account().await.unwrap();

    // Listing shows both tokens, never the plaintext.
    let list = admin.list_admin_tokens().await.unwrap();
    assert_eq!(list.admin_tokens.len(), 2);
    assert!(list.next_page_token.is_empty());

    // Revocation takes effect as soon as the RPC returns.
    let revoked = admin.revoke_admin_token(&meta.id).await.unwrap();
    assert_eq!(revoked.state, pb::AdminTokenState::Revoked as i32);
    assert!(revoked.revoke_time.is_some());
    let status = assert_code(laptop.get_account().await, Code::Unauthenticated);
    assert_eq!(status.message(), "invalid credentials");

    // Idempotent: revoking again returns it unchanged.
    let again = admin.revoke_admin_token(meta.id).await.unwrap();
    assert_eq!(again, revoked);
}

async fn admin_tokens_of_other_accounts_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.as_admin().create_admin_token("x").await.unwrap();
    // A second account, created directly in the database as `pulse account create` does.
    let second_token = app.create_account("second", "test").await;
    let second = app.as_admin_token(&second_token);
    let account = second.get_account().await.unwrap();
    assert_eq!(account.display_name, "second");
    // The second account cannot see or revoke the first account's token.
    assert_code(
        second
            .revoke_admin_token(other.admin_token.unwrap().id)
            .await,
        Code::NotFound,
    );
    let list = second.list_admin_tokens().await.unwrap();
    assert_eq!(list.admin_tokens.len(), 1);
}

async fn bad_admin_token_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    for name in ["", "   ", &"x".repeat(101)] {
        let status = assert_code(admin.create_admin_token(name).await, Code::InvalidArgument);
        let details = tonic_types::StatusExt::get_error_details(&status);
        let bad = details.bad_request().expect("BadRequest details");
        assert_eq!(bad.field_violations[0].field, "display_name");
    }
    assert_code(
        admin.revoke_admin_token("key_abc").await,
        Code::InvalidArgument,
    );
    assert_code(
        admin.revoke_admin_token("adm_unknown").await,
        Code::NotFound,
    );
}

both_backends!(
    get_account_returns_the_tokens_account,
    admin_token_lifecycle,
    admin_tokens_of_other_accounts_are_not_found,
    bad_admin_token_requests,
);
