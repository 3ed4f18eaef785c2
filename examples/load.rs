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
//! ```

use std::sync::Arc;

use clap::Parser;
use common::{CallFn, authed, drive, health_call, start_server};
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

    let mut scenarios: Vec<(&str, usize, CallFn)> = Vec::new();
    let health = health_call();
    scenarios.push(("health (baseline)", args.concurrency, health.clone()));
    {
        let sk = sk.clone();
        scenarios.push((
            "WhoAmI sk_",
            args.concurrency,
            Arc::new(move |ch, _| {
                let r = authed(pb::WhoAmIRequest {}, &sk);
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
        let fe = frontend.clone();
        scenarios.push((
            "WhoAmI pk_+token",
            args.concurrency,
            Arc::new(move |ch, _| {
                let r = authed(pb::WhoAmIRequest {}, &fe);
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
