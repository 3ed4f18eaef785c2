//! The `pulse` binary's commands, run as processes.

use std::process::Command;

use pulse::pb;

use crate::both_backends;
use crate::helpers::{Backend, bearer, fresh_database, spawn_process};

fn pulse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run pulse")
}

async fn migrate_and_account_create(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let out = pulse(&["migrate", "--database-url", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = pulse(&[
        "account",
        "create",
        "Acme",
        "--json",
        "--database-url",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let account_id = json["account_id"].as_str().unwrap().to_owned();
    let token = json["admin_token"].as_str().unwrap().to_owned();
    assert!(account_id.starts_with("acct_"));
    assert!(token.starts_with("ak_"));

    // A server on that database: no "default" bootstrap (an account exists),
    // and the printed token administers "Acme".
    let mut server = spawn_process(&url, &[]);
    assert!(!server.stdout.lock().unwrap().contains("ak_"));
    let mut accounts =
        pb::account_service_client::AccountServiceClient::new(server.channel().await);
    let account = accounts
        .get_account(bearer(pb::GetAccountRequest {}, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (account.id.as_str(), account.display_name.as_str()),
        (account_id.as_str(), "Acme")
    );
    assert!(server.terminate().success(), "SIGTERM is a clean shutdown");

    // Bad input is a clear error, not a panic.
    let out = pulse(&["account", "create", "", "--database-url", &url]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid account name"));
}

both_backends!(migrate_and_account_create);
