//! The ops commands (`pulse env|keys|users|stats`) against a running
//! server, as the real binary: tables, `--json`, errors with their gRPC
//! code and a non-zero exit, listing 10,000 environments with progress,
//! and least privilege (restricted keys, allowed networks, revoking a
//! user's tokens).

use std::process::{Command, Output};

use pulse::pb;
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
            .all(|k| k["state"] == "active" && k["success_count_24h"].is_i64())
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

/// The key printed once in `text`: the word starting with `prefix` on the
/// "shown once" line (the table above it shows only the key's prefix).
fn shown_once<'a>(text: &'a str, prefix: &str) -> &'a str {
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("shown once")).collect();
    assert_eq!(lines.len(), 1, "one \"shown once\" line in:\n{text}");
    lines[0]
        .split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}… in:\n{text}"))
}

/// `pulse keys create --restricted …` makes an `rk_` that can do what its
/// permissions say and nothing else; `--allowed-cidr` pins a key to
/// networks; `keys list` shows all of it; `pulse users revoke-tokens` ends
/// a user's tokens.
async fn keys_create_restricted_and_users_revoke_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_environment("Production").await;
    let env = created.environment.unwrap().id;
    let sk = created.secret_key;
    let pk = created.publishable_key.unwrap().value;

    // A read-only key for an analytics job, usable from loopback only,
    // expiring in 90 days.
    let made = json(&ops(
        &app,
        &[
            "keys",
            "create",
            &env,
            "--restricted",
            "--permission",
            "comments.read",
            "--permission",
            "users.read",
            "--display-name",
            "analytics job",
            "--allowed-cidr",
            "127.0.0.0/8",
            "--allowed-cidr",
            "::1/128",
            "--expire",
            "90d",
            "--json",
        ],
        &[],
    ));
    let rk = made["secret_key"].as_str().unwrap().to_owned();
    assert!(rk.starts_with("rk_"), "{made}");
    assert_eq!(made["key"]["kind"], "restricted");
    assert_eq!(
        made["key"]["permissions"],
        serde_json::json!(["comments.read", "users.read"])
    );
    let expires: prost_types::Timestamp = made["key"]["expire_time"]
        .as_str()
        .expect("--expire 90d sets an expiry")
        .parse()
        .unwrap();
    let in_90_days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 90 * 86_400;
    assert!((expires.seconds - in_90_days).abs() < 300, "{made}");

    // The printed rk_ authenticates as a restricted key with those
    // permissions, and is refused a write.
    app.as_secret(&sk)
        .create_room("design-review")
        .await
        .unwrap();
    let restricted = app.as_secret(&rk);
    let me = restricted.whoami().await.unwrap();
    assert_eq!(
        (me.environment_id.as_str(), me.kind),
        (env.as_str(), pb::ApiKeyKind::Restricted as i32)
    );
    assert_eq!(me.permissions, ["comments.read", "users.read"]);
    let denied = restricted
        .create_thread("design-review", "hi", "alice")
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(
        denied.message().contains("requires comments.write"),
        "{denied:?}"
    );
    // It reads.
    restricted.list_threads("design-review").await.unwrap();
    let denied = restricted.mint_user_token("alice").await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // Human output: the key's row, then the plaintext once.
    let table = ok(&ops(
        &app,
        &[
            "keys",
            "create",
            &env,
            "--restricted",
            "--permission",
            "tokens.write",
        ],
        &[],
    ));
    let minter = shown_once(&table, "rk_");
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
    app.as_secret(minter)
        .mint_user_token("bob")
        .await
        .expect("an rk_ with tokens.write mints");

    // A secret key pinned to a network the caller is not in is refused
    // with the generic message.
    let pinned = json(&ops(
        &app,
        &[
            "keys",
            "create",
            &env,
            "--allowed-cidr",
            "10.0.0.0/8",
            "--display-name",
            "ci",
            "--json",
        ],
        &[],
    ));
    assert_eq!(pinned["key"]["kind"], "secret");
    let pinned_sk = pinned["secret_key"].as_str().unwrap();
    assert!(pinned_sk.starts_with("sk_"));
    let refused = app.as_secret(pinned_sk).whoami().await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // `keys list` shows names, permissions and networks.
    let keys = json(&ops(&app, &["keys", "list", &env, "--json"], &[]));
    let analytics = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["display_name"] == "analytics job")
        .expect("the analytics key is listed");
    assert_eq!(analytics["kind"], "restricted");
    assert_eq!(
        analytics["permissions"],
        serde_json::json!(["comments.read", "users.read"])
    );
    assert_eq!(
        analytics["allowed_cidrs"],
        serde_json::json!(["127.0.0.0/8", "::1/128"])
    );
    let ci = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["display_name"] == "ci")
        .unwrap();
    assert_eq!(ci["permissions"], serde_json::json!([]));
    assert_eq!(ci["allowed_cidrs"], serde_json::json!(["10.0.0.0/8"]));
    let table = ok(&ops(&app, &["keys", "list", &env], &[]));
    let header = table.lines().next().unwrap();
    for column in [
        "NAME",
        "PERMISSIONS",
        "ALLOWED FROM",
        "LAST USED",
        "24H CALLS",
    ] {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.contains("analytics job"))
        .expect("analytics row");
    assert!(
        row.contains("comments.read,users.read") && row.contains("127.0.0.0/8,::1/128"),
        "{table}"
    );
    assert_eq!(
        header.find("PERMISSIONS"),
        row.find("comments.read"),
        "columns align:\n{table}"
    );

    // Bad permissions are the server's INVALID_ARGUMENT; a publishable key
    // takes no networks (refused before any call).
    for (args, expected) in [
        (
            vec![
                "keys",
                "create",
                &env,
                "--restricted",
                "--permission",
                "comments.delete",
            ],
            "InvalidArgument",
        ),
        (
            vec![
                "keys",
                "create",
                &env,
                "--publishable",
                "--allowed-cidr",
                "10.0.0.0/8",
            ],
            "cannot be used with",
        ),
        (
            vec!["keys", "create", &env, "--permission", "rooms.read"],
            "--restricted",
        ),
    ] {
        let out = ops(&app, &args, &[]);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }

    // Revoking alice's tokens: the old token is refused, a new one works.
    let backend_key = app.as_secret(&sk);
    let old = backend_key.mint_user_token("alice").await.unwrap().token;
    app.as_frontend(&pk, Some(&old)).whoami().await.unwrap();
    let revocation = json(&ops(
        &app,
        &["users", "revoke-tokens", &env, "alice", "--json"],
        &[],
    ));
    assert_eq!(revocation["user_id"], "alice");
    let not_before: prost_types::Timestamp = revocation["not_before"]
        .as_str()
        .expect("not_before printed")
        .parse()
        .unwrap();
    assert!(not_before.seconds > 0);
    let refused = app.as_frontend(&pk, Some(&old)).whoami().await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let new = backend_key.mint_user_token("alice").await.unwrap().token;
    let me = app.as_frontend(&pk, Some(&new)).whoami().await.unwrap();
    assert_eq!(me.user_id, "alice");
    // Human output names the user and the instant.
    let text = ok(&ops(&app, &["users", "revoke-tokens", &env, "bob"], &[]));
    assert!(
        text.starts_with("revoked the tokens of bob minted before 20"),
        "{text}"
    );
    // Another account's environment is not found.
    let out = ops(&app, &["users", "revoke-tokens", "env_nope", "alice"], &[]);
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
    keys_create_restricted_and_users_revoke_tokens,
    env_list_pages_through_ten_thousand_with_progress,
);
