//! `EnvironmentService`: environments, validation, isolation between accounts.

use pulse::pb;
use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, assert_code, spawn_app};

async fn environment_crud(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();

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

    let got = admin.get_environment(&prod_env.id).await.unwrap();
    assert_eq!(got, prod_env);

    let list = admin.list_environments().await.unwrap();
    let names: Vec<_> = list
        .environments
        .iter()
        .map(|e| e.display_name.as_str())
        .collect();
    assert_eq!(names, ["Production", "Staging"]);

    let renamed = admin
        .update_environment(
            pb::Environment {
                id: prod_env.id.clone(),
                display_name: "Prod".into(),
                ..Default::default()
            },
            Some(&["display_name"]),
        )
        .await
        .unwrap();
    assert_eq!(renamed.display_name, "Prod");
    assert_eq!(renamed.create_time, prod_env.create_time);

    admin.delete_environment(&prod_env.id).await.unwrap();
    assert_code(admin.get_environment(&prod_env.id).await, Code::NotFound);
    // Its keys stopped working with it.
    assert_code(
        app.as_secret(&prod.secret_key).whoami().await,
        Code::Unauthenticated,
    );
    // The other environment is untouched.
    app.as_secret(&staging.secret_key).whoami().await.unwrap();
}

async fn invalid_arguments_carry_field_violations(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
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
        let s = assert_code(admin.create_environment(name).await, Code::InvalidArgument);
        assert_eq!(field_of(s), "display_name");
    }
    let s = assert_code(admin.get_environment("nope").await, Code::InvalidArgument);
    assert_eq!(field_of(s), "id");
    let s = assert_code(
        admin.list_environments_page(-1, "").await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(s), "page_size");
    let s = assert_code(
        admin.list_environments_page(10, "bm90IGEgdG9rZW4").await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(s), "page_token");
    let s = assert_code(
        admin
            .update_environment(
                pb::Environment {
                    id: env.id.clone(),
                    display_name: "X".into(),
                    ..Default::default()
                },
                Some(&["create_time"]),
            )
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(s), "update_mask.paths");
    // Nothing was changed by the rejected update.
    let got = admin.get_environment(&env.id).await.unwrap();
    assert_eq!(got.display_name, "Production");
    assert_code(
        admin.get_environment("env_doesnotexist").await,
        Code::NotFound,
    );
}

async fn accounts_are_isolated(backend: Backend) {
    let app = spawn_app(backend).await;
    let mine = app.create_environment("Production").await;
    let env_id = mine.environment.unwrap().id;
    let sk_key_id = mine.secret_key_info.unwrap().id;

    let theirs = app.as_admin_token(&app.create_account("other", "test").await);

    // Every RPC that names a resource of another account: NOT_FOUND.
    assert_code(theirs.get_environment(&env_id).await, Code::NotFound);
    assert_code(
        theirs.rename_environment(&env_id, "Hacked").await,
        Code::NotFound,
    );
    assert_code(theirs.delete_environment(&env_id).await, Code::NotFound);
    assert_code(theirs.list_keys(&env_id).await, Code::NotFound);
    assert_code(theirs.rotate_keys(&env_id, 0).await, Code::NotFound);
    assert_code(theirs.revoke_key(sk_key_id).await, Code::NotFound);
    let list = theirs.list_environments().await.unwrap();
    assert!(list.environments.is_empty());
    // And the owner's environment and keys are intact.
    let got = app.as_admin().get_environment(&env_id).await.unwrap();
    assert_eq!(got.display_name, "Production");
    app.as_secret(&mine.secret_key).whoami().await.unwrap();
}

/// PostgreSQL only: the database disappears under a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_unavailable_when_the_database_is_gone() {
    let app = spawn_app(Backend::Postgres).await;
    let admin = app.as_admin();
    app.create_environment("Production").await;
    crate::helpers::drop_postgres_database(&app.database_url).await;
    let status = assert_code(admin.create_environment("Staging").await, Code::Unavailable);
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
