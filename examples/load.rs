//! Load test: starts a real `pulse serve` (release build), seeds it, and
//! drives it with many concurrent HTTP/2 streams over a few connections.
//! Prints req/s and p50/p99 per RPC, with the ratio to the bare-tonic
//! health check measured in the same run (these machines are shared and
//! noisy, so only same-run ratios mean anything).
//!
//! ```sh
//! cargo build --release && cargo run --release --example load -- --seconds 5
//! # PostgreSQL (an empty database):
//! cargo run --release --example load -- --database-url postgres://postgres@127.0.0.1/pulse_bench
//! # The same server measured from outside by h2load (nghttp2-client):
//! cargo run --release --example load -- --h2load-only --seconds 5
//! ```

use std::sync::Arc;

use clap::Parser;
use common::{CallFn, authed, drive, health_call, prepare, start_server, with_headers};
use pulse::pb;
use tonic::transport::Channel;

mod common;

#[derive(Parser, Debug)]
struct Args {
    /// Seconds per scenario.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Concurrent in-flight calls.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Database of the server under test (default: a fresh SQLite file).
    #[arg(long)]
    database_url: Option<String>,
    /// Only run scenarios whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Also measure health, WhoAmI sk_ and WhoAmI pk_+token with h2load
    /// (`-c16 -m16 -t1`, an empty request frame, one credential): a load
    /// generator far cheaper than a tonic client, so the server's own
    /// per-request cost shows.
    #[arg(long)]
    h2load: bool,
    /// Only the h2load measurement.
    #[arg(long)]
    h2load_only: bool,
    /// h2load rounds (health, sk_, pk_+token, health each).
    #[arg(long, default_value_t = 3)]
    h2load_rounds: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let url = args.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let (_, master) = pulse::auth::sealing::MasterKey::generate();
    let server = start_server(&url, &master, true);
    let endpoint = format!("http://{}", server.addr);
    let mut channels = Vec::new();
    for _ in 0..args.connections {
        channels.push(
            Channel::from_shared(endpoint.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let admin = vec![("authorization", format!("Bearer {}", server.admin_token))];

    // Seed: one environment, a returning user's token.
    let created =
        pb::environment_service_client::EnvironmentServiceClient::new(channels[0].clone())
            .create_environment(authed(
                pb::CreateEnvironmentRequest {
                    display_name: "Bench".into(),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
    let sk = vec![("authorization", format!("Bearer {}", created.secret_key))];
    let pk = created.publishable_key.unwrap().value;
    let mint = |user: String| pb::MintUserTokenRequest {
        user_id: user,
        user_info: Some(pb::UserInfo {
            name: "Bench User".into(),
            avatar_url: String::new(),
        }),
        ttl_seconds: 3600,
        ..Default::default()
    };
    let token = pb::auth_service_client::AuthServiceClient::new(channels[0].clone())
        .mint_user_token(authed(mint("returning".into()), &sk))
        .await
        .unwrap()
        .into_inner()
        .token;
    let frontend = vec![
        ("x-pulse-publishable-key", pk),
        ("authorization", format!("Bearer {token}")),
    ];

    if args.h2load || args.h2load_only {
        h2load_table(&args, &server.addr, &sk, &frontend, dir.path());
        if args.h2load_only {
            return;
        }
    }

    let mut scenarios: Vec<(&str, usize, CallFn)> = Vec::new();
    let health = health_call();
    scenarios.push(("health (baseline)", args.concurrency, health.clone()));
    {
        let sk = prepare(&sk);
        scenarios.push((
            "WhoAmI sk_",
            args.concurrency,
            Arc::new(move |ch, _| {
                let r = with_headers(pb::WhoAmIRequest {}, &sk);
                Box::pin(async move {
                    pb::auth_service_client::AuthServiceClient::new(ch)
                        .who_am_i(r)
                        .await
                        .map(|_| ())
                })
            }),
        ));
    }
    {
        let fe = prepare(&frontend);
        scenarios.push((
            "WhoAmI pk_+token",
            args.concurrency,
            Arc::new(move |ch, _| {
                let r = with_headers(pb::WhoAmIRequest {}, &fe);
                Box::pin(async move {
                    pb::auth_service_client::AuthServiceClient::new(ch)
                        .who_am_i(r)
                        .await
                        .map(|_| ())
                })
            }),
        ));
    }
    {
        let sk = sk.clone();
        scenarios.push((
            "GetUser sk_ (one indexed read)",
            args.concurrency,
            Arc::new(move |ch, _| {
                let r = authed(
                    pb::GetUserRequest {
                        user_id: "returning".into(),
                    },
                    &sk,
                );
                Box::pin(async move {
                    pb::user_service_client::UserServiceClient::new(ch)
                        .get_user(r)
                        .await
                        .map(|_| ())
                })
            }),
        ));
    }
    {
        let sk = sk.clone();
        scenarios.push((
            "MintUserToken returning user",
            args.concurrency,
            Arc::new(move |ch, _| {
                let r = authed(mint("returning".into()), &sk);
                Box::pin(async move {
                    pb::auth_service_client::AuthServiceClient::new(ch)
                        .mint_user_token(r)
                        .await
                        .map(|_| ())
                })
            }),
        ));
    }
    {
        let sk = sk.clone();
        scenarios.push((
            "MintUserToken new user",
            args.concurrency,
            Arc::new(move |ch, n| {
                let r = authed(mint(format!("new-{n}")), &sk);
                Box::pin(async move {
                    pb::auth_service_client::AuthServiceClient::new(ch)
                        .mint_user_token(r)
                        .await
                        .map(|_| ())
                })
            }),
        ));
    }
    {
        let admin = admin.clone();
        scenarios.push((
            "CreateEnvironment (32 clients)",
            32,
            Arc::new(move |ch, n| {
                let r = authed(
                    pb::CreateEnvironmentRequest {
                        display_name: format!("env {n}"),
                    },
                    &admin,
                );
                Box::pin(async move {
                    pb::environment_service_client::EnvironmentServiceClient::new(ch)
                        .create_environment(r)
                        .await
                        .map(|_| ())
                })
            }),
        ));
    }
    scenarios.push(("health (baseline, again)", args.concurrency, health));

    let mut outcomes = Vec::new();
    for (name, concurrency, call) in scenarios {
        if let Some(only) = &args.only
            && !name.contains(only.as_str())
            && !name.starts_with("health")
        {
            continue;
        }
        outcomes.push(drive(name, &channels, concurrency, args.seconds, call).await);
    }
    let baseline: f64 = {
        let h: Vec<_> = outcomes
            .iter()
            .filter(|o| o.name.starts_with("health"))
            .map(|o| o.rps)
            .collect();
        h.iter().sum::<f64>() / h.len() as f64
    };
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "\nbackend: {backend}; {} connections, {} concurrent calls (CreateEnvironment: 32), {}s per scenario",
        args.connections, args.concurrency, args.seconds
    );
    println!("| scenario | req/s | p50 µs | p99 µs | × health | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for o in &outcomes {
        println!(
            "| {} | {:.0} | {} | {} | {:.2} | {} |",
            o.name,
            o.rps,
            o.p50_us,
            o.p99_us,
            o.rps / baseline,
            o.errors
        );
    }
}

/// Runs h2load against one gRPC method for `seconds`; returns req/s.
fn h2load(
    addr: &str,
    method: &str,
    headers: &[(&'static str, String)],
    seconds: f64,
    body: &std::path::Path,
) -> f64 {
    let mut cmd = std::process::Command::new("h2load");
    cmd.args(["-c16", "-m16", "-t1", "-D"])
        .arg(format!("{}", seconds.ceil() as u64))
        .arg("-d")
        .arg(body)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"]);
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    let out = cmd
        .arg(format!("http://{addr}{method}"))
        .output()
        .expect("h2load (Debian package nghttp2-client) on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    // "finished in 5.00s, 41234.33 req/s, 4.23MB/s" and
    // "requests: N total, N started, N done, N succeeded, 0 failed, …"
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.strip_suffix(" req/s"))
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("unexpected h2load output:\n{text}"));
    let failed = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .is_some_and(|l| !l.contains(" 0 failed, 0 errored"));
    assert!(!failed, "h2load saw failures:\n{text}");
    rps
}

/// h2load rounds of health, WhoAmI sk_, WhoAmI pk_+token, health; each
/// ratio uses the mean of the two health runs around it.
fn h2load_table(
    args: &Args,
    addr: &str,
    sk: &[(&'static str, String)],
    frontend: &[(&'static str, String)],
    dir: &std::path::Path,
) {
    // One gRPC frame: not compressed, length 0 (WhoAmIRequest and
    // HealthCheckRequest are empty).
    let body = dir.join("empty-frame.bin");
    std::fs::write(&body, [0u8; 5]).unwrap();
    let health = "/grpc.health.v1.Health/Check";
    let whoami = "/pulse.v1.AuthService/WhoAmI";
    println!(
        "\nh2load -c16 -m16 -t1, {}s per run, one credential per scenario",
        args.seconds
    );
    // "health, pk_+token headers": the health check carrying the frontend
    // headers, which it ignores: what the headers alone cost to receive.
    println!(
        "| round | health req/s | health, pk_+token headers × health | WhoAmI sk_ req/s | × health | WhoAmI pk_+token req/s | × health |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for round in 1..=args.h2load_rounds {
        let before = h2load(addr, health, &[], args.seconds, &body);
        let carried = h2load(addr, health, frontend, args.seconds, &body);
        let secret = h2load(addr, whoami, sk, args.seconds, &body);
        let user = h2load(addr, whoami, frontend, args.seconds, &body);
        let after = h2load(addr, health, &[], args.seconds, &body);
        let base = (before + after) / 2.0;
        println!(
            "| {round} | {base:.0} | {:.2} | {secret:.0} | {:.2} | {user:.0} | {:.2} |",
            carried / base,
            secret / base,
            user / base
        );
    }
}
