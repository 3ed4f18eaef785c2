//! Prometheus metrics: off by default; when on, calls by service, method
//! and code, latency histograms, refused authentications by reason,
//! key-cache hits and misses, and pool sizes.

use std::io::{Read, Write};

use tonic::Code;

use crate::both_backends;
use crate::helpers::{Backend, Credential, assert_code, spawn_app, spawn_app_with};

/// `GET /metrics` over a plain socket: status line and body.
pub fn scrape(addr: std::net::SocketAddr) -> String {
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: pulse\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample whose line starts with `prefix`.
pub fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn metrics_count_calls_failures_and_cache(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let addr = app.metrics_addr.expect("metrics are on");
    let created = app.create_environment("Production").await;
    let server = app.as_secret(&created.secret_key);
    for _ in 0..3 {
        server.whoami().await.unwrap();
    }
    // Refusals of each kind (on the same connection).
    let with = |credential| server.with(credential);
    assert_code(with(Credential::None).whoami().await, Code::Unauthenticated);
    assert_code(
        with(Credential::bearer("sk_garbage")).whoami().await,
        Code::Unauthenticated,
    );
    let unknown =
        pulse::auth::credential::generate(pulse::auth::credential::CredentialKind::Secret);
    assert_code(
        with(Credential::bearer(unknown.plaintext.expose()))
            .whoami()
            .await,
        Code::Unauthenticated,
    );
    let pk = created.publishable_key.unwrap().value;
    assert_code(
        with(Credential::frontend(&pk, Some("not.a.token")))
            .whoami()
            .await,
        Code::Unauthenticated,
    );
    assert_code(
        app.as_secret(&created.secret_key).list_environments().await,
        Code::PermissionDenied,
    );

    let text = scrape(addr);
    let calls = |method: &str, code: &str| {
        sample(
            &text,
            &format!(
                "pulse_rpc_requests_total{{service=\"pulse.v1.AuthService\",method=\"{method}\",code=\"{code}\"}}"
            ),
        )
    };
    assert_eq!(calls("WhoAmI", "Ok"), 3.0);
    assert_eq!(calls("WhoAmI", "Unauthenticated"), 4.0);
    assert_eq!(
        sample(
            &text,
            "pulse_rpc_duration_seconds_count{service=\"pulse.v1.AuthService\",method=\"WhoAmI\",code=\"Unauthenticated\"}"
        ),
        4.0
    );
    for (reason, n) in [
        ("missing", 1.0),
        ("malformed", 1.0),
        ("unknown_or_revoked", 1.0),
        ("bad_user_token", 1.0),
        ("permission_denied", 1.0),
    ] {
        assert_eq!(
            sample(
                &text,
                &format!("pulse_auth_failures_total{{reason=\"{reason}\"}}")
            ),
            n,
            "{reason}"
        );
    }
    // The secret key: one miss, then hits (admin token and pk too).
    assert!(sample(&text, "pulse_key_cache_lookups{result=\"hit\"}") >= 3.0);
    assert!(sample(&text, "pulse_key_cache_lookups{result=\"miss\"}") >= 2.0);
    let pool = if backend == Backend::Postgres {
        "main"
    } else {
        "write"
    };
    assert!(
        sample(
            &text,
            &format!("pulse_db_pool_connections{{pool=\"{pool}\",state=\"max\"}}")
        ) >= 1.0
    );
    // Writes by operation and outcome, from the one write helper.
    assert_eq!(
        sample(
            &text,
            "pulse_store_write_duration_seconds_count{op=\"create_environment\",outcome=\"ok\"}"
        ),
        1.0
    );
    // No secret ever shows up in the metrics.
    assert!(!text.contains(&created.secret_key) && !text.contains(&app.admin_token));
}

async fn metrics_are_off_by_default(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(app.metrics_addr.is_none());
}

both_backends!(
    metrics_count_calls_failures_and_cache,
    metrics_are_off_by_default
);
