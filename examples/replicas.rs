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
use common::replicas::{Replicas, recreate_database, who_am_i};
use common::{CallFn, drive, health_call, start_server};
use hdrhistogram::Histogram;

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
        let url = recreate_database(&args.postgres_url, &format!("pulse_replicas_{n}")).await;
        let mut servers = vec![start_server(&url, &master, true)];
        for _ in 1..n {
            servers.push(start_server(&url, &master, false));
        }
        let replicas =
            Replicas::connect(servers.iter().map(|s| &s.addr), &servers[0].admin_token, 2).await;
        let channels = replicas.all_channels();
        let created = replicas.create_environment("P").await.unwrap();
        let env_id = created.environment.unwrap().id;

        let health = health_call();
        let whoami: CallFn = {
            let sk = created.secret_key.clone();
            Arc::new(move |ch, _| {
                let sk = sk.clone();
                Box::pin(async move { who_am_i(ch, &sk).await.map(|_| ()) })
            })
        };
        let h = drive("health", &channels, 64, args.seconds, health).await;
        let w = drive("whoami", &channels, 64, args.seconds, whoami).await;

        let mut rotate = Histogram::<u64>::new(3).unwrap();
        let mut propagate = Histogram::<u64>::new(3).unwrap();
        let mut accepted = 0;
        let mut old = created.secret_key.clone();
        for _ in 0..100 {
            // Warm every replica's cache with the current key.
            for r in 0..n {
                replicas.who_am_i(r, &old).await.unwrap();
            }
            let t = Instant::now();
            let rotated = replicas.rotate_via(0, &env_id).await.unwrap();
            let returned = Instant::now();
            rotate
                .record(returned.duration_since(t).as_micros() as u64)
                .unwrap();
            let mut worst = Duration::ZERO;
            for r in 0..n {
                while replicas.who_am_i(r, &old).await.is_ok() {
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
            old = rotated;
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
        drop(replicas);
        drop(servers);
    }
}
