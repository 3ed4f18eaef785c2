//! Ops path: grpcurl through server reflection (v1alpha, as grpcurl 1.8 speaks).

use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, grpcurl, spawn_app};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(grpcurl())
        .args(args)
        .output()
        .expect("run grpcurl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn grpcurl_lists_describes_and_creates(backend: Backend) {
    let app = spawn_app(backend).await;
    let addr = app.addr.to_string();

    let (ok, list) = run(&["-plaintext", &addr, "list"]);
    assert!(ok, "{list}");
    for service in [
        "grpc.health.v1.Health",
        "pulse.v1.AccountService",
        "pulse.v1.EnvironmentService",
        "pulse.v1.AuthService",
    ] {
        assert!(list.contains(service), "{service} missing from: {list}");
    }

    let (ok, described) = run(&[
        "-plaintext",
        &addr,
        "describe",
        "pulse.v1.EnvironmentService",
    ]);
    assert!(ok, "{described}");
    assert!(described.contains("rpc RotateKeys"), "{described}");
    let (ok, described) = run(&["-plaintext", &addr, "describe", "pulse.v1.ApiKey"]);
    assert!(
        ok && described.contains("google.protobuf.Timestamp create_time"),
        "{described}"
    );

    let (ok, health) = run(&["-plaintext", &addr, "grpc.health.v1.Health/Check"]);
    assert!(ok && health.contains("SERVING"), "{health}");

    let auth = format!("authorization: Bearer {}", app.admin_token);
    let (ok, created) = run(&[
        "-plaintext",
        "-H",
        &auth,
        "-d",
        r#"{"display_name": "Production"}"#,
        &addr,
        "pulse.v1.EnvironmentService/CreateEnvironment",
    ]);
    assert!(ok, "{created}");
    let json: serde_json::Value = serde_json::from_str(&created).expect("json response");
    assert_eq!(json["environment"]["displayName"], "Production");
    assert!(json["secretKey"].as_str().unwrap().starts_with("sk_"));
    assert!(
        json["publishableKey"]["value"]
            .as_str()
            .unwrap()
            .starts_with("pk_")
    );

    // Errors print readably, details included.
    let (ok, error) = run(&[
        "-plaintext",
        "-H",
        &auth,
        "-d",
        r#"{"display_name": ""}"#,
        &addr,
        "pulse.v1.EnvironmentService/CreateEnvironment",
    ]);
    assert!(!ok);
    assert!(error.contains("InvalidArgument"), "{error}");
    assert!(
        error.contains("google.rpc.BadRequest") && error.contains("display_name"),
        "{error}"
    );
}

both_backends!(grpcurl_lists_describes_and_creates);
