//! `deploy/` cannot run here (no Docker engine, no cluster): parse every
//! manifest and check what the scale-out design depends on.

use serde_yaml::Value;

fn load(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

#[test]
fn compose_runs_three_replicas_behind_a_grpc_balancer_on_postgres() {
    let compose = &load("deploy/compose.yaml")[0];
    let services = &compose["services"];
    assert_eq!(services["pulse"]["deploy"]["replicas"], 3);
    let env = &services["pulse"]["environment"];
    assert!(
        env["PULSE_DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );
    assert!(env["PULSE_MASTER_KEY"].as_str().is_some());
    assert!(
        services["postgres"]["image"]
            .as_str()
            .unwrap()
            .starts_with("postgres")
    );
    assert!(
        services["envoy"]["image"]
            .as_str()
            .unwrap()
            .contains("envoy")
    );

    let envoy = &load("deploy/envoy.yaml")[0];
    let cluster = &envoy["static_resources"]["clusters"][0];
    assert_eq!(cluster["lb_policy"], "ROUND_ROBIN");
    assert!(cluster["health_checks"][0]["grpc_health_check"].is_mapping());
    let http2 = &cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        ["explicit_http_config"]["http2_protocol_options"];
    assert!(http2.is_mapping(), "upstream must speak HTTP/2");
}

#[test]
fn kubernetes_manifests_are_complete() {
    let docs = load("deploy/k8s/pulse.yaml");
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let deployment = kind("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["grpc"]["port"], 50051);
    assert_eq!(container["livenessProbe"]["grpc"]["port"], 50051);
    let env: Vec<&str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for needed in ["PULSE_DATABASE_URL", "PULSE_MASTER_KEY", "PULSE_LISTEN"] {
        assert!(env.contains(&needed), "{needed} missing");
    }
    assert_eq!(kind("Service")["spec"]["ports"][0]["port"], 50051);
    assert_eq!(kind("PodDisruptionBudget")["spec"]["minAvailable"], 2);
    let secret = kind("Secret");
    assert!(
        secret["stringData"]["database-url"].is_string()
            && secret["stringData"]["master-key"].is_string()
    );
}

#[test]
fn dockerfile_is_multi_stage_and_non_root() {
    let text = std::fs::read_to_string(format!("{}/deploy/Dockerfile", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    assert!(text.matches("\nFROM ").count() + usize::from(text.starts_with("FROM ")) >= 2);
    assert!(text.contains("USER 10001"));
    assert!(text.contains("--locked"));
}
