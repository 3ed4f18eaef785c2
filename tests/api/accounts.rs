//! `AccountService`: the caller's account and admin tokens.

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, bearer, spawn_app};

async fn get_account_returns_the_tokens_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app
        .accounts()
        .await
        .get_account(bearer(pb::GetAccountRequest {}, &app.admin_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.id, app.account_id);
    assert_eq!(account.display_name, "default");
    assert!(account.create_time.is_some());
}

async fn admin_token_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut accounts = app.accounts().await;
    let created = accounts
        .create_admin_token(bearer(
            pb::CreateAdminTokenRequest {
                display_name: "ops laptop".into(),
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let meta = created.admin_token.unwrap();
    assert!(created.token.starts_with("ak_"));
    assert_eq!(meta.prefix, &created.token[..12]);
    assert_eq!(meta.state, pb::AdminTokenState::Active as i32);

    // The new token works.
    accounts
        .get_account(bearer(pb::GetAccountRequest {}, &created.token))
        .await
        .unwrap();

    // Listing shows both tokens, never the plaintext.
    let list = accounts
        .list_admin_tokens(bearer(
            pb::ListAdminTokensRequest::default(),
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.admin_tokens.len(), 2);
    assert!(list.next_page_token.is_empty());

    // Revocation takes effect as soon as the RPC returns.
    let revoked = accounts
        .revoke_admin_token(bearer(
            pb::RevokeAdminTokenRequest {
                id: meta.id.clone(),
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, pb::AdminTokenState::Revoked as i32);
    assert!(revoked.revoke_time.is_some());
    let status = assert_code(
        accounts
            .get_account(bearer(pb::GetAccountRequest {}, &created.token))
            .await,
        Code::Unauthenticated,
    );
    assert_eq!(status.message(), "invalid credentials");

    // Idempotent: revoking again returns it unchanged.
    let again = accounts
        .revoke_admin_token(bearer(
            pb::RevokeAdminTokenRequest { id: meta.id },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, revoked);
}

async fn admin_tokens_of_other_accounts_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut accounts = app.accounts().await;
    let other = accounts
        .create_admin_token(bearer(
            pb::CreateAdminTokenRequest {
                display_name: "x".into(),
            },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    // A second account, created directly in the database as `pulse account create` does.
    let store = pulse::store::Store::connect(&pulse::config::DatabaseSettings::from_url(
        &app.database_url,
    ))
    .await
    .unwrap();
    let second = store
        .create_account("second", &pulse::domain::audit::Actor::local("test"))
        .await
        .unwrap();
    let second_token = second.token.expose().to_owned();
    let account = accounts
        .get_account(bearer(pb::GetAccountRequest {}, &second_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.display_name, "second");
    // The second account cannot see or revoke the first account's token.
    assert_code(
        accounts
            .revoke_admin_token(bearer(
                pb::RevokeAdminTokenRequest {
                    id: other.admin_token.unwrap().id,
                },
                &second_token,
            ))
            .await,
        Code::NotFound,
    );
    let list = accounts
        .list_admin_tokens(bearer(pb::ListAdminTokensRequest::default(), &second_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.admin_tokens.len(), 1);
}

async fn bad_admin_token_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut accounts = app.accounts().await;
    for name in ["", "   ", &"x".repeat(101)] {
        let status = assert_code(
            accounts
                .create_admin_token(bearer(
                    pb::CreateAdminTokenRequest {
                        display_name: name.to_string(),
                    },
                    &app.admin_token,
                ))
                .await,
            Code::InvalidArgument,
        );
        let details = tonic_types::StatusExt::get_error_details(&status);
        let bad = details.bad_request().expect("BadRequest details");
        assert_eq!(bad.field_violations[0].field, "display_name");
    }
    assert_code(
        accounts
            .revoke_admin_token(bearer(
                pb::RevokeAdminTokenRequest {
                    id: "key_abc".into(),
                },
                &app.admin_token,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        accounts
            .revoke_admin_token(bearer(
                pb::RevokeAdminTokenRequest {
                    id: "adm_unknown".into(),
                },
                &app.admin_token,
            ))
            .await,
        Code::NotFound,
    );
}

both_backends!(
    get_account_returns_the_tokens_account,
    admin_token_lifecycle,
    admin_tokens_of_other_accounts_are_not_found,
    bad_admin_token_requests,
);
