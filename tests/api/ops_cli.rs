//! The ops commands (`pulse env|keys|stats`) against a running server, as
//! the real binary: tables, `--json`, errors with their gRPC code and a
//! non-zero exit, and listing 10,000 environments with progress.

use std::process::{Command, Output};

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Client, TestApp, spawn_app};

fn ops(app: &TestApp, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulse"));
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env("PULSE_ADDR", format!("http://{}", app.addr))
        .env("PULSE_ADMIN_TOKEN", &app.admin_token);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run pulse")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("JSON output")
}

async fn ops_commands_drive_a_running_server(backend: Backend) {
    let app = spawn_app(backend).await;
    // `PULSE_ADDR` as `--listen` and grpcurl write it: host:port, plaintext.
    let bare = ops(
        &app,
        &["env", "list"],
        &[("PULSE_ADDR", &app.addr.to_string())],
    );
    ok(&bare);
    let created = json(&ops(&app, &["env", "create", "Production", "--json"], &[]));
    let env = created["environment"]["id"].as_str().unwrap().to_owned();
    let sk = created["secret_key"].as_str().unwrap().to_owned();
    assert!(
        sk.starts_with("sk_")
            && created["publishable_key"]
                .as_str()
                .unwrap()
                .starts_with("pk_")
    );

    // Human output: aligned columns under a header.
    let table = ok(&ops(&app, &["env", "list"], &[]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("NAME"),
        "{table}"
    );
    assert!(lines[1].starts_with(&env) && lines[1].contains("Production"));
    assert_eq!(
        lines[0].find("NAME"),
        lines[1].find("Production"),
        "columns align:\n{table}"
    );

    let keys = json(&ops(&app, &["keys", "list", &env, "--json"], &[]));
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|k| k["state"] == "active")
    );
    let secret_id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "secret")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = json(&ops(&app, &["keys", "rotate", &env, "--json"], &[]));
    assert_eq!(rotated["revoked"].as_array().unwrap().len(), 2);
    let new_sk = rotated["secret_key"].as_str().unwrap().to_owned();
    // The rotation took effect: the old secret key is refused.
    assert!(app.as_secret(&sk).whoami().await.is_err());
    app.as_secret(&new_sk).whoami().await.unwrap();
    let revoked = json(&ops(&app, &["keys", "revoke", &secret_id, "--json"], &[]));
    assert_eq!(revoked[0]["state"], "revoked");

    let stats = json(&ops(&app, &["stats", &env, "--json"], &[]));
    assert_eq!(
        stats,
        serde_json::json!({"rooms": 0, "threads": 0, "users": 0, "comments": 0})
    );
    let renamed = json(&ops(&app, &["env", "rename", &env, "Prod", "--json"], &[]));
    assert_eq!(renamed["display_name"], "Prod");
    assert_eq!(
        json(&ops(&app, &["env", "get", &env, "--json"], &[]))["display_name"],
        "Prod"
    );
    ok(&ops(&app, &["env", "delete", &env], &[]));

    // Errors: the gRPC code and message, exit status non-zero.
    for (args, envs, expected) in [
        (
            vec!["env", "get", &env],
            vec![],
            "NotFound: environment not found",
        ),
        (
            vec!["env", "list"],
            vec![("PULSE_ADMIN_TOKEN", "ak_wrong")],
            "Unauthenticated: invalid credentials",
        ),
        (vec!["env", "create", " "], vec![], "InvalidArgument"),
        (vec!["stats", "nope"], vec![], "InvalidArgument"),
    ] {
        let out = ops(&app, &args, &envs);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains(&app.admin_token));
    }
    let out = ops(&app, &["env", "list"], &[("PULSE_ADMIN_TOKEN", "")]);
    assert!(!out.status.success());
}

async fn env_list_pages_through_ten_thousand_with_progress(backend: Backend) {
    let app = spawn_app(backend).await;
    // 10,000 environments, 16 at a time.
    let admin = Client::bearer(app.channel().await, &app.admin_token);
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..10_000).step_by(16) {
                admin.create_environment(format!("env {i}")).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Progress shows once listing takes longer than the threshold (0 here,
    // a second by default).
    let out = ops(
        &app,
        &["env", "list", "--json"],
        &[("PULSE_PROGRESS_AFTER_MS", "0")],
    );
    let listed = json(&out);
    let ids: std::collections::HashSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 10_000, "every environment exactly once");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("listing environments… 1000 so far"),
        "{stderr}"
    );
    assert!(stderr.contains("listed 10000 environments"), "{stderr}");
    // The table has a header and one line per environment.
    assert_eq!(
        ok(&ops(&app, &["env", "list"], &[])).lines().count(),
        10_001
    );
}

both_backends!(
    ops_commands_drive_a_running_server,
    env_list_pages_through_ten_thousand_with_progress,
);
