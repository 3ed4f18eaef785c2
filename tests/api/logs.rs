//! No secret ever reaches the logs, even at `trace`.

use crate::both_backends;
use crate::helpers::{Backend, Client, Credential, fresh_database, spawn_process};

async fn no_secret_in_trace_logs(backend: Backend) {
    for format in ["text", "json"] {
        let (url, _dir) = fresh_database(backend).await;
        let mut server =
            spawn_process(&url, &[("RUST_LOG", "trace"), ("PULSE_LOG_FORMAT", format)]);
        let ak = server.bootstrap_token();
        let admin = Client::bearer(server.channel().await, &ak);
        let as_key = |key: &str| admin.with(Credential::bearer(key));

        let mut secrets = vec![ak.clone()];
        let created = admin.create_environment("Production").await.unwrap();
        secrets.push(created.secret_key.clone());
        let env_id = created.environment.unwrap().id;
        as_key(&created.secret_key).whoami().await.unwrap();
        let rotated = admin.rotate_keys(env_id, 0).await.unwrap();
        secrets.push(rotated.secret_key.clone());
        // Failures log too: revoked and malformed credentials.
        let _ = as_key(&created.secret_key).whoami().await;
        let _ = as_key(&format!("{}x", rotated.secret_key)).whoami().await;
        let new_admin = admin.create_admin_token("ci").await.unwrap();
        secrets.push(new_admin.token.clone());
        let _ = as_key(&new_admin.token).get_account().await;
        // Team access: invite and session tokens, passwords, wrong ones too.
        let password = "a password nobody logs";
        let invited = admin
            .invite_member("log@example.com", pulse::pb::Role::Viewer, &[])
            .await
            .unwrap();
        secrets.push(invited.invite_token.clone());
        secrets.push(password.to_owned());
        let anonymous = admin.with(Credential::None);
        let _ = anonymous
            .accept_invite(&invited.invite_token, "short")
            .await;
        let accepted = anonymous
            .accept_invite(&invited.invite_token, password)
            .await
            .unwrap();
        secrets.push(accepted.session_token.clone());
        let _ = anonymous
            .sign_in("log@example.com", "another secret guess", "")
            .await;
        secrets.push("another secret guess".to_owned());
        let session = anonymous
            .sign_in("log@example.com", password, "")
            .await
            .unwrap();
        secrets.push(session.session_token.clone());
        let _ = as_key(&session.session_token).get_caller().await;

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
