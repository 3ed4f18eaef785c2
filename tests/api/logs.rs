//! No secret ever reaches the logs, even at `trace`.

use pulse::pb;

use crate::both_backends;
use crate::helpers::{Backend, bearer, fresh_database, spawn_process};

async fn no_secret_in_trace_logs(backend: Backend) {
    for format in ["text", "json"] {
        let (url, _dir) = fresh_database(backend).await;
        let mut server =
            spawn_process(&url, &[("RUST_LOG", "trace"), ("PULSE_LOG_FORMAT", format)]);
        let ak = server.bootstrap_token();
        let channel = server.channel().await;
        let mut envs =
            pb::environment_service_client::EnvironmentServiceClient::new(channel.clone());
        let mut accounts = pb::account_service_client::AccountServiceClient::new(channel.clone());
        let mut auth = pb::auth_service_client::AuthServiceClient::new(channel);

        let mut secrets = vec![ak.clone()];
        let created = envs
            .create_environment(bearer(
                pb::CreateEnvironmentRequest {
                    display_name: "Production".into(),
                },
                &ak,
            ))
            .await
            .unwrap()
            .into_inner();
        secrets.push(created.secret_key.clone());
        let env_id = created.environment.unwrap().id;
        auth.who_am_i(bearer(pb::WhoAmIRequest {}, &created.secret_key))
            .await
            .unwrap();
        let rotated = envs
            .rotate_keys(bearer(
                pb::RotateKeysRequest {
                    environment_id: env_id,
                    ..Default::default()
                },
                &ak,
            ))
            .await
            .unwrap()
            .into_inner();
        secrets.push(rotated.secret_key.clone());
        // Failures log too: revoked and malformed credentials.
        let _ = auth
            .who_am_i(bearer(pb::WhoAmIRequest {}, &created.secret_key))
            .await;
        let _ = auth
            .who_am_i(bearer(
                pb::WhoAmIRequest {},
                &format!("{}x", rotated.secret_key),
            ))
            .await;
        let new_admin = accounts
            .create_admin_token(bearer(
                pb::CreateAdminTokenRequest {
                    display_name: "ci".into(),
                },
                &ak,
            ))
            .await
            .unwrap()
            .into_inner();
        secrets.push(new_admin.token.clone());
        let _ = accounts
            .get_account(bearer(pb::GetAccountRequest {}, &new_admin.token))
            .await;

        assert!(server.terminate().success());
        let logs = server.stderr.lock().unwrap().clone();
        assert!(logs.contains("pulse serving"), "the server logged: {logs}");
        assert!(
            logs.contains("CreateEnvironment"),
            "trace level logs each rpc: {logs}"
        );
        for secret in &secrets {
            // The whole secret, and its random part alone.
            assert!(
                !logs.contains(secret.as_str()),
                "a secret reached the {format} logs"
            );
            assert!(
                !logs.contains(&secret[3..]),
                "a secret's body reached the {format} logs"
            );
        }
    }
}

both_backends!(no_secret_in_trace_logs);
