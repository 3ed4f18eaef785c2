//! `EnvironmentService`: environments, validation, isolation between accounts.

use prost_types::FieldMask;
use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, bearer, spawn_app};

async fn environment_crud(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut envs = app.environments().await;
    let token = app.admin_token.clone();

    let prod = app.create_environment("Production").await;
    let staging = app.create_environment("Staging").await;
    let prod_env = prod.environment.unwrap();
    assert!(prod_env.id.starts_with("env_"));
    assert_eq!(prod_env.display_name, "Production");
    assert!(prod.secret_key.starts_with("sk_"));
    let pk = prod.publishable_key.unwrap();
    assert!(pk.value.starts_with("pk_"));
    assert_eq!(pk.prefix, &pk.value[..12]);
    assert_eq!(pk.environment_id, prod_env.id);

    let got = envs
        .get_environment(bearer(
            pb::GetEnvironmentRequest {
                id: prod_env.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, prod_env);

    let list = envs
        .list_environments(bearer(pb::ListEnvironmentsRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = list
        .environments
        .iter()
        .map(|e| e.display_name.as_str())
        .collect();
    assert_eq!(names, ["Production", "Staging"]);

    let renamed = envs
        .update_environment(bearer(
            pb::UpdateEnvironmentRequest {
                environment: Some(pb::Environment {
                    id: prod_env.id.clone(),
                    display_name: "Prod".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["display_name".into()],
                }),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.display_name, "Prod");
    assert_eq!(renamed.create_time, prod_env.create_time);

    envs.delete_environment(bearer(
        pb::DeleteEnvironmentRequest {
            id: prod_env.id.clone(),
        },
        &token,
    ))
    .await
    .unwrap();
    assert_code(
        envs.get_environment(bearer(
            pb::GetEnvironmentRequest {
                id: prod_env.id.clone(),
            },
            &token,
        ))
        .await,
        Code::NotFound,
    );
    // Its keys stopped working with it.
    assert_code(
        app.auth()
            .await
            .who_am_i(bearer(pb::WhoAmIRequest {}, &prod.secret_key))
            .await,
        Code::Unauthenticated,
    );
    // The other environment is untouched.
    app.auth()
        .await
        .who_am_i(bearer(pb::WhoAmIRequest {}, &staging.secret_key))
        .await
        .unwrap();
}

async fn invalid_arguments_carry_field_violations(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut envs = app.environments().await;
    let token = app.admin_token.clone();
    let env = app
        .create_environment("Production")
        .await
        .environment
        .unwrap();

    let field_of = |status: tonic::Status| {
        let details = tonic_types::StatusExt::get_error_details(&status);
        details.bad_request().expect("BadRequest").field_violations[0]
            .field
            .clone()
    };

    for name in ["", &"y".repeat(101)] {
        let s = assert_code(
            envs.create_environment(bearer(
                pb::CreateEnvironmentRequest {
                    display_name: name.into(),
                },
                &token,
            ))
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(field_of(s), "display_name");
    }
    let s = assert_code(
        envs.get_environment(bearer(
            pb::GetEnvironmentRequest { id: "nope".into() },
            &token,
        ))
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(s), "id");
    let s = assert_code(
        envs.list_environments(bearer(
            pb::ListEnvironmentsRequest {
                page_size: -1,
                page_token: String::new(),
            },
            &token,
        ))
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(s), "page_size");
    let s = assert_code(
        envs.list_environments(bearer(
            pb::ListEnvironmentsRequest {
                page_size: 10,
                page_token: "bm90IGEgdG9rZW4".into(),
            },
            &token,
        ))
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(s), "page_token");
    let s = assert_code(
        envs.update_environment(bearer(
            pb::UpdateEnvironmentRequest {
                environment: Some(pb::Environment {
                    id: env.id.clone(),
                    display_name: "X".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["create_time".into()],
                }),
            },
            &token,
        ))
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(s), "update_mask.paths");
    // Nothing was changed by the rejected update.
    let got = envs
        .get_environment(bearer(
            pb::GetEnvironmentRequest { id: env.id.clone() },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.display_name, "Production");
    assert_code(
        envs.get_environment(bearer(
            pb::GetEnvironmentRequest {
                id: "env_doesnotexist".into(),
            },
            &token,
        ))
        .await,
        Code::NotFound,
    );
}

async fn accounts_are_isolated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut envs = app.environments().await;
    let mine = app.create_environment("Production").await;
    let env_id = mine.environment.unwrap().id;
    let sk_key_id = mine.secret_key_info.unwrap().id;

    let theirs = app.create_account("other", "test").await;

    // Every RPC that names a resource of another account: NOT_FOUND.
    assert_code(
        envs.get_environment(bearer(
            pb::GetEnvironmentRequest { id: env_id.clone() },
            &theirs,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        envs.update_environment(bearer(
            pb::UpdateEnvironmentRequest {
                environment: Some(pb::Environment {
                    id: env_id.clone(),
                    display_name: "Hacked".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            &theirs,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        envs.delete_environment(bearer(
            pb::DeleteEnvironmentRequest { id: env_id.clone() },
            &theirs,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        envs.list_keys(bearer(
            pb::ListKeysRequest {
                environment_id: env_id.clone(),
                ..Default::default()
            },
            &theirs,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        envs.rotate_keys(bearer(
            pb::RotateKeysRequest {
                environment_id: env_id.clone(),
                ..Default::default()
            },
            &theirs,
        ))
        .await,
        Code::NotFound,
    );
    assert_code(
        envs.revoke_key(bearer(pb::RevokeKeyRequest { id: sk_key_id }, &theirs))
            .await,
        Code::NotFound,
    );
    let list = envs
        .list_environments(bearer(pb::ListEnvironmentsRequest::default(), &theirs))
        .await
        .unwrap()
        .into_inner();
    assert!(list.environments.is_empty());
    // And the owner's environment and keys are intact.
    let got = envs
        .get_environment(bearer(
            pb::GetEnvironmentRequest { id: env_id.clone() },
            &app.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.display_name, "Production");
    app.auth()
        .await
        .who_am_i(bearer(pb::WhoAmIRequest {}, &mine.secret_key))
        .await
        .unwrap();
}

/// PostgreSQL only: the database disappears under a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unavailable_when_the_database_is_gone() {
    if crate::helpers::skip_postgres() {
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    let mut envs = app.environments().await;
    app.create_environment("Production").await;
    crate::helpers::drop_postgres_database(&app.database_url).await;
    let status = assert_code(
        envs.create_environment(bearer(
            pb::CreateEnvironmentRequest {
                display_name: "Staging".into(),
            },
            &app.admin_token,
        ))
        .await,
        Code::Unavailable,
    );
    assert!(!status.message().contains(&app.admin_token));

    // Health follows: NOT_SERVING within a few seconds, for load balancers.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    let mut not_serving = false;
    for _ in 0..50 {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        if r.status == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32 {
            not_serving = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        not_serving,
        "health turns NOT_SERVING when the database is gone"
    );
}

both_backends!(
    environment_crud,
    invalid_arguments_carry_field_violations,
    accounts_are_isolated,
);
