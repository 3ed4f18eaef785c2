//! Team access benchmark (issue 22): sign-in latency, the key-checking hot
//! path while members sign in (argon2id must not starve the runtime), and
//! the admin plane's "who am I" (`GetCaller`) by an admin token and by a
//! member's session, each as a ratio to the bare-tonic health check
//! measured in the same round (these machines are shared and noisy).
//!
//! ```sh
//! cargo build --release && cargo run --release --example team -- --seconds 3 --rounds 3
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{
    CallFn, database_url, drive, health_call, prepare, start_server, who_am_i, with_headers,
};
use hdrhistogram::Histogram;
use pulse::pb;
use tonic::transport::Channel;

mod common;

#[derive(Parser, Debug)]
struct Args {
    /// Seconds per scenario.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Concurrent in-flight calls of the measured scenario.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Concurrent sign-in loops beside `WhoAmI sk_` in the loaded scenario.
    #[arg(long, default_value_t = 50)]
    sign_ins: usize,
    /// Sequential sign-ins timed for the latency figures.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Rounds (each: health, the scenarios, health).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Database of the server under test (default: a fresh SQLite file).
    #[arg(long)]
    database_url: Option<String>,
}

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "a benchmark password";

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

async fn sign_in(channel: Channel) -> Result<String, tonic::Status> {
    pb::session_service_client::SessionServiceClient::new(channel)
        .sign_in(pb::SignInRequest {
            email: EMAIL.into(),
            password: PASSWORD.into(),
            totp_code: String::new(),
        })
        .await
        .map(|r| r.into_inner().session_token)
}

fn get_caller(token: &str) -> CallFn {
    let headers = prepare(&bearer(token));
    Arc::new(move |ch, _| {
        let r = with_headers(pb::GetCallerRequest {}, &headers);
        Box::pin(async move {
            pb::account_service_client::AccountServiceClient::new(ch)
                .get_caller(r)
                .await
                .map(|_| ())
        })
    })
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(args.database_url.clone(), dir.path());
    let master = pulse::auth::sealing::MasterKey::generate().1;
    let server = start_server(&url, &master, true);
    let channels = server.channels(args.connections).await;
    let ch = channels[0].clone();
    let ak = server.admin_token.clone();

    // Seed: an environment (sk_), a member with a password (ses_).
    let created = pb::environment_service_client::EnvironmentServiceClient::new(ch.clone())
        .create_environment(common::authed(
            pb::CreateEnvironmentRequest {
                display_name: "Bench".into(),
            },
            &bearer(&ak),
        ))
        .await
        .unwrap()
        .into_inner();
    let sk = created.secret_key;
    let invited = pb::member_service_client::MemberServiceClient::new(ch.clone())
        .invite_member(common::authed(
            pb::InviteMemberRequest {
                email: EMAIL.into(),
                role: pb::Role::Admin as i32,
                environment_ids: Vec::new(),
            },
            &bearer(&ak),
        ))
        .await
        .unwrap()
        .into_inner();
    pb::session_service_client::SessionServiceClient::new(ch.clone())
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: invited.invite_token,
            password: PASSWORD.into(),
            display_name: "Bench".into(),
        })
        .await
        .unwrap();
    let ses = sign_in(ch.clone()).await.unwrap();

    // Sign-in latency, one at a time (argon2id verification dominates).
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for _ in 0..args.latency_samples {
        let t0 = Instant::now();
        sign_in(ch.clone()).await.unwrap();
        hist.record(t0.elapsed().as_micros() as u64).unwrap();
    }
    println!(
        "SignIn sequential ({} samples): p50 {:.1} ms, p99 {:.1} ms",
        args.latency_samples,
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0
    );

    let mut ratios: Vec<(&str, Vec<f64>)> = vec![
        ("WhoAmI sk_ / health", Vec::new()),
        ("WhoAmI sk_ with sign-ins / WhoAmI sk_", Vec::new()),
        ("GetCaller ak_ / health", Vec::new()),
        ("GetCaller ses_ / health", Vec::new()),
    ];
    for round in 0..args.rounds {
        let health = |name| {
            drive(
                name,
                &channels,
                args.concurrency,
                args.seconds,
                health_call(),
            )
        };
        let before = health("health").await;
        let alone = drive(
            "WhoAmI sk_",
            &channels,
            args.concurrency,
            args.seconds,
            who_am_i(&bearer(&sk)),
        )
        .await;
        // The same, with `sign_ins` loops signing in all along.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let signed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut loops = Vec::new();
        for i in 0..args.sign_ins {
            let (ch, stop, signed) = (
                channels[i % channels.len()].clone(),
                stop.clone(),
                signed.clone(),
            );
            loops.push(tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t0 = Instant::now();
                    if sign_in(ch.clone()).await.is_ok() {
                        signed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        hist.record(t0.elapsed().as_micros() as u64).unwrap();
                    }
                }
                hist
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let loaded = drive(
            "WhoAmI sk_ + sign-ins",
            &channels,
            args.concurrency,
            args.seconds,
            who_am_i(&bearer(&sk)),
        )
        .await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut sign_in_hist = Histogram::<u64>::new(3).unwrap();
        for l in loops {
            sign_in_hist.add(l.await.unwrap()).unwrap();
        }
        let by_ak = drive(
            "GetCaller ak_",
            &channels,
            args.concurrency,
            args.seconds,
            get_caller(&ak),
        )
        .await;
        let by_ses = drive(
            "GetCaller ses_",
            &channels,
            args.concurrency,
            args.seconds,
            get_caller(&ses),
        )
        .await;
        let after = health("health").await;
        let base = (before.rps + after.rps) / 2.0;
        println!(
            "round {}: health {:.0}/{:.0} req/s; WhoAmI sk_ {:.0} (p99 {} µs); with {} sign-in loops {:.0} (p99 {} µs; {} sign-ins, p50 {:.1} ms p99 {:.1} ms); GetCaller ak_ {:.0} (p99 {} µs), ses_ {:.0} (p99 {} µs); errors {}",
            round + 1,
            before.rps,
            after.rps,
            alone.rps,
            alone.p99_us,
            args.sign_ins,
            loaded.rps,
            loaded.p99_us,
            signed.load(std::sync::atomic::Ordering::Relaxed),
            sign_in_hist.value_at_quantile(0.5) as f64 / 1000.0,
            sign_in_hist.value_at_quantile(0.99) as f64 / 1000.0,
            by_ak.rps,
            by_ak.p99_us,
            by_ses.rps,
            by_ses.p99_us,
            alone.errors + loaded.errors + by_ak.errors + by_ses.errors,
        );
        ratios[0].1.push(alone.rps / base);
        ratios[1].1.push(loaded.rps / alone.rps);
        ratios[2].1.push(by_ak.rps / base);
        ratios[3].1.push(by_ses.rps / base);
    }
    for (name, values) in &mut ratios {
        values.sort_by(|a, b| a.total_cmp(b));
        let median = values[values.len() / 2];
        let all: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
        println!("{name}: median {median:.2}x (rounds {})", all.join(", "));
    }
}
