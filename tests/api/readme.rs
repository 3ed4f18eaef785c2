//! The README's grpcurl walkthrough, executed as written against a real server.

use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, grpcurl, spawn_app};

/// The shell blocks of the walkthrough sections, with the two lines the
/// reader fills in by hand left out.
fn walkthrough() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## Walkthrough with grpcurl")
        .expect("walkthrough section");
    let end = readme[start..]
        .find("## Command line")
        .map(|i| start + i)
        .expect("next section");
    sh_blocks(&readme[start..end])
}

/// The ```sh blocks of a piece of markdown, as one script (lines that set
/// `AK` or `ADDR` are left out: the test sets them).
pub fn sh_blocks(markdown: &str) -> String {
    let mut script = String::new();
    let mut in_block = false;
    for line in markdown.lines() {
        if line.starts_with("```sh") {
            in_block = true;
        } else if line.starts_with("```") {
            in_block = false;
        } else if in_block && !line.starts_with("export AK=") && !line.starts_with("export ADDR=") {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

/// Runs `script` with bash in a scratch directory, grpcurl and the `pulse`
/// binary on PATH, `AK` and `ADDR` pointing at `app`. Returns stdout and
/// stderr together, and whether bash succeeded.
pub fn run_script(app: &crate::helpers::TestApp, script: &str, strict: bool) -> (String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let grpcurl_dir = std::path::Path::new(&grpcurl())
        .parent()
        .unwrap()
        .to_owned();
    let pulse_dir = std::path::Path::new(env!("CARGO_BIN_EXE_pulse"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}:{}",
        grpcurl_dir.display(),
        pulse_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = Command::new("bash");
    if strict {
        bash.args(["-euo", "pipefail"]);
    }
    let out = bash
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("AK", &app.admin_token)
        .env("ADDR", app.addr.to_string())
        .env_remove("RUST_LOG")
        .output()
        .expect("run bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status.success())
}

async fn readme_walkthrough_works_as_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let (text, _) = run_script(&app, &walkthrough(), false);
    for broken in [
        "Error invoking method",
        "bad input",
        "command not found",
        "Failed to",
        "Unknown",
        "null",
    ] {
        assert!(
            !text.contains(broken),
            "the walkthrough broke ({broken}):\n{text}"
        );
    }
    for expected in [
        "SERVING",
        "\"displayName\": \"Staging\"",
        "API_KEY_KIND_PUBLISHABLE",
        "\"userId\": \"alice\"",
        "\"commentCount\": \"1\"",
        "\"roomCount\": \"1\"",
        "\"algorithm\": \"EdDSA\"",
        "API_KEY_STATE_REVOKED",
        "\"displayName\": \"Prod\"",
        // Least privilege: the rk_ printed by `pulse keys create` is a
        // restricted key, refused a write; a one-room token is refused
        // another room; `pulse users revoke-tokens` ends bob's token.
        "\"kind\": \"API_KEY_KIND_RESTRICTED\"",
        "\"comments.read\"",
        "Message: requires comments.write",
        "analytics job",
        "127.0.0.0/8,::1/128",
        "Message: the user token does not allow read access to room \"payroll\"",
        "revoked the tokens of bob minted before",
        "\"userId\": \"bob\"",
        // Room access stored on rooms: dana writes through her group, her
        // list holds the room, and once the group is out she is refused.
        "\"roomId\": \"design-review\"",
        "\"id\": \"design-review\"",
        "Message: the user token does not allow read access to room \"design-review\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(
        text.matches("invalid credentials").count(),
        3,
        "old sk and its token fail after rotation, bob's token after its revocation:\n{text}"
    );
    assert_eq!(
        text.matches("Code: PermissionDenied").count(),
        3,
        "the rk_'s write, bob's other room and dana after the change, nothing else:\n{text}"
    );
    // Those six and nothing else failed (bob's write in his room worked).
    assert_eq!(text.matches("ERROR:").count(), 6, "{text}");
}

both_backends!(readme_walkthrough_works_as_written);
