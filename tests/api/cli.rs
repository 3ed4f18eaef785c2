//! The `pulse` binary's commands, run as processes.

use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, Credential, fresh_database, spawn_process};

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
    let account = server.as_admin_token(&token).get_account().await.unwrap();
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

/// Revoking an account's last admin token locks it out of the API;
/// `pulse account token create` (database access) lets it back in.
async fn account_token_create_recovers_a_locked_out_account(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let server = spawn_process(&url, &[]);
    let token = server.bootstrap_token();
    let admin = server.as_admin_token(&token);
    let account = admin.get_account().await.unwrap();
    let tokens = admin.list_admin_tokens().await.unwrap().admin_tokens;
    admin.revoke_admin_token(&tokens[0].id).await.unwrap();
    assert!(admin.get_account().await.is_err(), "locked out");

    let out = pulse(&[
        "account",
        "token",
        "create",
        &account.id,
        "--json",
        "--database-url",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let recovered = json["admin_token"].as_str().unwrap();
    assert!(recovered.starts_with("ak_"));
    let back = admin
        .with(Credential::bearer(recovered))
        .get_account()
        .await
        .expect("the new token works on the running server");
    assert_eq!(back.id, account.id);

    // An unknown account is a clear error.
    let out = pulse(&[
        "account",
        "token",
        "create",
        "acct_doesnotexist",
        "--database-url",
        &url,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Logs written to a pipe carry no colour codes.
    assert!(
        !server.stderr.lock().unwrap().contains('\x1b'),
        "ANSI escapes in piped logs: {}",
        server.stderr.lock().unwrap()
    );
}

both_backends!(
    migrate_and_account_create,
    account_token_create_recovers_a_locked_out_account
);
