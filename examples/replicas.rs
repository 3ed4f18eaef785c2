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
//! Then, in a second table, the same for user tokens: 100 revocations of
//! one user's tokens through replica 1 (`RevokeUserTokens` with the secret
//! key and `RevokeEnvironmentUserTokens` with the admin token in turn),
//! each followed by probes of every replica with the user's token minted
//! before it (publishable key + user token), looped until rejected or
//! [`GIVE_UP`] after the return (counted as never refused), and by a token
//! minted right after it on another replica, which must work everywhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::replicas::{Replicas, recreate_database, who_am_i};
use common::{CallFn, drive, health_call, start_server};
use hdrhistogram::Histogram;

mod common;

/// How long after a user-token revocation returned its old token is probed
/// before it counts as never refused.
const GIVE_UP: Duration = Duration::from_millis(100);

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
    // The user-token table, printed after the first.
    let mut user_rows = Vec::new();
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
        user_rows.push(user_token_revocations(&replicas).await);
        drop(replicas);
        drop(servers);
    }
    println!();
    println!(
        "| replicas | revoke user tokens p50 ms | p99 ms | return→rejected everywhere p50 µs | p99 µs | old token accepted | never refused | fresh token refused |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in user_rows {
        println!("{row}");
    }
}

/// 100 revocations of one user's tokens through replica 1, in an
/// environment of their own (the rotations replaced the first one's keys);
/// the row of the user-token table.
async fn user_token_revocations(replicas: &Replicas) -> String {
    let n = replicas.count();
    let created = replicas.create_environment("U").await.unwrap();
    let env_id = &created.environment.unwrap().id;
    let sk = &created.secret_key;
    let pk = &created.publishable_key.unwrap().value;
    let user = "bench-user";
    let mut revoke = Histogram::<u64>::new(3).unwrap();
    let mut propagate = Histogram::<u64>::new(3).unwrap();
    let (mut accepted, mut never, mut fresh_refused) = (0, 0, 0);
    let mut old = replicas.mint_user_token_via(0, sk, user).await.unwrap();
    for k in 0..100 {
        // Warm every replica's caches with the current token.
        for r in 0..n {
            if replicas.who_am_i_user(r, pk, &old).await.is_err() {
                fresh_refused += 1;
            }
        }
        let t = Instant::now();
        let revocation = if k % 2 == 0 {
            replicas.revoke_user_tokens_via(0, sk, user).await
        } else {
            replicas
                .revoke_environment_user_tokens_via(0, env_id, user)
                .await
        };
        revocation.unwrap();
        let returned = Instant::now();
        revoke
            .record(returned.duration_since(t).as_micros() as u64)
            .unwrap();
        let (mut worst, mut late) = (Duration::ZERO, false);
        for r in 0..n {
            while replicas.who_am_i_user(r, pk, &old).await.is_ok() {
                accepted += 1;
                late = true;
                if returned.elapsed() > GIVE_UP {
                    never += 1;
                    break;
                }
            }
            worst = worst.max(returned.elapsed());
        }
        // As for keys: only delay beyond the probes' own round trips counts.
        propagate
            .record(if late { worst.as_micros() as u64 } else { 0 })
            .unwrap();
        // A token minted right after, on another replica, works everywhere.
        old = replicas.mint_user_token_via(1 % n, sk, user).await.unwrap();
    }
    format!(
        "| {n} | {:.2} | {:.2} | {} | {} | {accepted} | {never} | {fresh_refused} |",
        revoke.value_at_quantile(0.5) as f64 / 1000.0,
        revoke.value_at_quantile(0.99) as f64 / 1000.0,
        propagate.value_at_quantile(0.5),
        propagate.value_at_quantile(0.99),
    )
}
