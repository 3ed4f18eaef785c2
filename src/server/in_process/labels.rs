//! Metric labels: what `/metrics` says after calls through the stack —
//! `pulse_rpc_requests_total` by service, method and code, and
//! `pulse_auth_failures_total` by the refusal's reason.

use super::paths::*;
use super::{Credential, TestStack, both_backends};
use crate::domain::credential::{self, CredentialKind};
use crate::pb;

/// The value of the sample `name{labels}` in `text`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a number"))
}

fn rpc(service: &str, method: &str, code: &str) -> String {
    format!("pulse_rpc_requests_total{{service=\"{service}\",method=\"{method}\",code=\"{code}\"}}")
}

fn failures(reason: &str) -> String {
    format!("pulse_auth_failures_total{{reason=\"{reason}\"}}")
}

async fn rpcs_and_refusals_are_counted_by_label(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let stack = TestStack::start(&db).await;
    let env = stack.environment().await;
    let token = stack.user_token(&env.sk, "alice").await;
    let (rk, _) = stack
        .key(&env, pb::ApiKeyKind::Restricted, &["rooms.read"])
        .await;
    let unknown = credential::generate(CredentialKind::Secret);
    let who = || pb::WhoAmIRequest {};
    let calls = [
        // Two successes: the first decided, the second remembered.
        Credential::Bearer(&env.sk),
        Credential::Bearer(&env.sk),
        Credential::Frontend(&env.pk, Some(&token)),
        Credential::None,
        Credential::Header("authorization", "Basic c2s6"),
        Credential::Bearer(&env.pk),
        Credential::Bearer(unknown.plaintext.expose()),
        Credential::Frontend(&env.pk, Some("e30.e30.e30")),
        // A publishable key alone where a user is needed.
        Credential::Frontend(&env.pk, None),
    ];
    for caller in calls {
        stack.code(WHO_AM_I, caller, who()).await;
    }
    // Working credentials that may not call the RPC.
    stack
        .code(
            LIST_USERS,
            Credential::Bearer(&rk),
            pb::ListUsersRequest::default(),
        )
        .await;
    stack
        .code(
            LIST_ENVIRONMENTS,
            Credential::Bearer(&env.sk),
            pb::ListEnvironmentsRequest::default(),
        )
        .await;
    // A path in no proto: counted as unknown, never by its name.
    stack
        .code(
            "/pulse.v1.AuthService/NoSuchRpc",
            Credential::Bearer(&env.sk),
            who(),
        )
        .await;

    let text = stack.metrics_text();
    let expect = [
        (rpc("pulse.v1.AuthService", "WhoAmI", "Ok"), 3.0),
        (
            rpc("pulse.v1.AuthService", "WhoAmI", "Unauthenticated"),
            6.0,
        ),
        (
            rpc("pulse.v1.UserService", "ListUsers", "PermissionDenied"),
            1.0,
        ),
        (
            rpc(
                "pulse.v1.EnvironmentService",
                "ListEnvironments",
                "PermissionDenied",
            ),
            1.0,
        ),
        (
            rpc("pulse.v1.EnvironmentService", "CreateEnvironment", "Ok"),
            1.0,
        ),
        (rpc("pulse.v1.EnvironmentService", "CreateKey", "Ok"), 1.0),
        (rpc("pulse.v1.AuthService", "MintUserToken", "Ok"), 1.0),
        (rpc("unknown", "unknown", "Unimplemented"), 1.0),
        (failures("missing"), 1.0),
        (failures("malformed"), 1.0),
        (failures("publishable_key_alone"), 1.0),
        // The unknown key, and the publishable key alone on WhoAmI.
        (failures("unknown_or_revoked"), 2.0),
        (failures("bad_user_token"), 1.0),
        (failures("permission_denied"), 2.0),
    ];
    let mut wrong = Vec::new();
    for (series, value) in &expect {
        let got = sample(&text, series);
        if got != Some(*value) {
            wrong.push(format!("{series}: {got:?}, expected {value}"));
        }
    }
    assert!(!text.contains("NoSuchRpc"), "a made-up path became a label");
    assert!(wrong.is_empty(), "{wrong:#?}\n{text}");
}

/// A peer over its failed-authentication quota is refused before any
/// lookup, counted as `rate_limited` (the stack sees the connection's peer
/// address, as the server's does).
async fn a_failing_peer_is_counted_as_rate_limited(backend: super::Backend) {
    let db = super::TestDatabase::fresh(backend).await;
    let stack = TestStack::start_with(&db, |settings| {
        settings.failed_auth_per_second = 1;
        settings.failed_auth_burst = 2;
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            stack
                .code(WHO_AM_I, Credential::None, pb::WhoAmIRequest {})
                .await,
        );
    }
    assert_eq!(
        codes,
        [
            tonic::Code::Unauthenticated,
            tonic::Code::Unauthenticated,
            tonic::Code::ResourceExhausted,
            tonic::Code::ResourceExhausted,
        ]
    );
    let text = stack.metrics_text();
    assert_eq!(sample(&text, &failures("missing")), Some(2.0), "{text}");
    assert_eq!(
        sample(&text, &failures("rate_limited")),
        Some(2.0),
        "{text}"
    );
}

both_backends!(
    rpcs_and_refusals_are_counted_by_label,
    a_failing_peer_is_counted_as_rate_limited
);
