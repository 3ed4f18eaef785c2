//! docs/ops.md, executed: every block, in order, with `bash -euo pipefail`
//! against a real server, then checks of what the recipes did.

use crate::both_backends;
use crate::helpers::{Backend, spawn_app};
use crate::readme::{run_script, sh_blocks};

async fn ops_cookbook_works_as_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let script = sh_blocks(include_str!("../../docs/ops.md"));
    assert!(
        script.matches("grpcurl -plaintext").count() >= 20,
        "{script}"
    );
    let (text, ok) = run_script(&app, &script, true);
    assert!(ok, "a cookbook command failed:\n{text}");
    for broken in [
        "Error invoking method",
        "command not found",
        "Failed to",
        "error:",
    ] {
        assert!(
            !text.contains(broken),
            "the cookbook broke ({broken}):\n{text}"
        );
    }
    for expected in [
        "SERVING",
        "pulse.v1.AuditService",
        "\"displayName\": \"QA\"",
        "API_KEY_STATE_REVOKED",
        "ROOMS  THREADS  USERS  COMMENTS",
        "\"permissionDeniedCount\":\"1\"",
        "BUCKET",
        "change-4711",
        "deleted env_",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // What the recipes left behind: Production, QA (renamed); Development
    // and Preview deleted.
    let envs = app
        .as_admin()
        .list_environments()
        .await
        .unwrap()
        .environments;
    let names: Vec<&str> = envs.iter().map(|e| e.display_name.as_str()).collect();
    assert_eq!(names, ["Production", "QA"]);
}

both_backends!(ops_cookbook_works_as_written);
