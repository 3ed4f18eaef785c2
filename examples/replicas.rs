//! Scale-out figures on PostgreSQL: revocation propagation and throughput
//! with 1, 2 and 3 `pulse serve` replicas on one database (release build).
//!
//! ```sh
//! cargo build --release && cargo run --release --example replicas -- --seconds 4
//! ```
//! For each replica count: WhoAmI (sk_) throughput spread over all
//! replicas, the health baseline on the same replicas, and 100 rotations
//! through replica 1, each followed by a probe of every other replica with
//! the old key, looped until rejected: the delay from the RPC returning to
//! rejection everywhere (0 when the first probe is already rejected).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{CallFn, authed, drive, health_call, start_server};
use hdrhistogram::Histogram;
use pulse::pb;
use sea_orm::{ConnectionTrait, Database};
use tonic::transport::Channel;

mod common;

#[derive(Parser, Debug)]
struct Args {
    /// Seconds per throughput scenario.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// PostgreSQL server (a database per run is created in it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (_, master) = pulse::auth::sealing::MasterKey::generate();
    println!(
        "| replicas | health req/s | WhoAmI sk_ req/s | × health | RotateKeys p50 ms | p99 ms | return→rejected everywhere p50 µs | p99 µs | old key accepted |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in 1..=3 {
        let admin_db = Database::connect(&args.postgres_url).await.unwrap();
        let name = format!("pulse_replicas_{n}");
        admin_db
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        admin_db
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!(
            "{}/{name}",
            &args.postgres_url[..args.postgres_url.rfind('/').unwrap()]
        );
        let mut servers = vec![start_server(&url, &master, true)];
        for _ in 1..n {
            servers.push(start_server(&url, &master, false));
        }
        let admin = vec![(
            "authorization",
            format!("Bearer {}", servers[0].admin_token),
        )];
        let mut channels = Vec::new();
        for s in &servers {
            for _ in 0..2 {
                channels.push(
                    Channel::from_shared(format!("http://{}", s.addr))
                        .unwrap()
                        .connect()
                        .await
                        .unwrap(),
                );
            }
        }
        let created =
            pb::environment_service_client::EnvironmentServiceClient::new(channels[0].clone())
                .create_environment(authed(
                    pb::CreateEnvironmentRequest {
                        display_name: "P".into(),
                    },
                    &admin,
                ))
                .await
                .unwrap()
                .into_inner();
        let env_id = created.environment.unwrap().id;
        let sk = vec![("authorization", format!("Bearer {}", created.secret_key))];

        let health = health_call();
        let whoami: CallFn = {
            let sk = sk.clone();
            Arc::new(move |ch, _| {
                let r = authed(pb::WhoAmIRequest {}, &sk);
                Box::pin(async move {
                    pb::auth_service_client::AuthServiceClient::new(ch)
                        .who_am_i(r)
                        .await
                        .map(|_| ())
                })
            })
        };
        let h = drive("health", &channels, 64, args.seconds, health).await;
        let w = drive("whoami", &channels, 64, args.seconds, whoami).await;

        let mut rotate = Histogram::<u64>::new(3).unwrap();
        let mut propagate = Histogram::<u64>::new(3).unwrap();
        let mut accepted = 0;
        let mut old = created.secret_key.clone();
        let mut envs =
            pb::environment_service_client::EnvironmentServiceClient::new(channels[0].clone());
        let mut probes: Vec<_> = (0..n)
            .map(|i| pb::auth_service_client::AuthServiceClient::new(channels[i * 2].clone()))
            .collect();
        for _ in 0..100 {
            // Warm every replica's cache with the current key.
            for p in probes.iter_mut() {
                p.who_am_i(authed(
                    pb::WhoAmIRequest {},
                    &[("authorization", format!("Bearer {old}"))],
                ))
                .await
                .unwrap();
            }
            let t = Instant::now();
            let rotated = envs
                .rotate_keys(authed(
                    pb::RotateKeysRequest {
                        environment_id: env_id.clone(),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .unwrap()
                .into_inner();
            let returned = Instant::now();
            rotate
                .record(returned.duration_since(t).as_micros() as u64)
                .unwrap();
            let mut worst = Duration::ZERO;
            for p in probes.iter_mut() {
                loop {
                    let r = p
                        .who_am_i(authed(
                            pb::WhoAmIRequest {},
                            &[("authorization", format!("Bearer {old}"))],
                        ))
                        .await;
                    if r.is_err() {
                        break;
                    }
                    accepted += 1;
                }
                worst = worst.max(Instant::now().duration_since(returned));
            }
            // Only count delay beyond the probes' own round trips when a
            // probe was accepted; otherwise the key was dead on return.
            propagate
                .record(if accepted == 0 {
                    0
                } else {
                    worst.as_micros() as u64
                })
                .unwrap();
            old = rotated.secret_key;
        }
        println!(
            "| {n} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {accepted} |",
            h.rps,
            w.rps,
            w.rps / h.rps,
            rotate.value_at_quantile(0.5) as f64 / 1000.0,
            rotate.value_at_quantile(0.99) as f64 / 1000.0,
            propagate.value_at_quantile(0.5),
            propagate.value_at_quantile(0.99),
        );
        drop(servers);
    }
}
