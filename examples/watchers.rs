//! Live events at scale (issue 13): many concurrent `WatchEvents` streams
//! on one real `pulse serve` (release build, a child process), a bounded
//! run of audited changes, and for every event and every watcher the delay
//! from the event's `create_time` (stamped in the committing transaction)
//! to its receipt. Reports whether every event reached every watcher, the
//! delivery latency percentiles, and the server's memory per idle watcher
//! (its RSS from `/proc/<pid>/status` before and after opening them).
//!
//! ```sh
//! cargo build --release && cargo run --release --example watchers -- --watchers 10000
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use common::{authed, database_url, start_server};
use hdrhistogram::Histogram;
use pulse::pb;
use pulse::pb::environment_service_client::EnvironmentServiceClient;
use pulse::pb::event_service_client::EventServiceClient;

mod common;

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent watchers.
    #[arg(long, default_value_t = 10_000)]
    watchers: usize,
    /// HTTP/2 connections the watchers are spread over.
    #[arg(long, default_value_t = 20)]
    connections: usize,
    /// Audited changes made while they watch (one event each).
    #[arg(long, default_value_t = 50)]
    events: usize,
    /// Milliseconds between two changes.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Database of the server under test (default: a fresh SQLite file).
    #[arg(long)]
    database_url: Option<String>,
}

/// The server's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(args.database_url.clone(), dir.path());
    let (_, master) = pulse::auth::sealing::MasterKey::generate();
    let server = start_server(&url, &master, true);
    let pid = server.child.id();
    let channels = server.channels(args.connections.max(1)).await;
    let admin = vec![("authorization", format!("Bearer {}", server.admin_token))];
    let env = EnvironmentServiceClient::new(channels[0].clone())
        .create_environment(authed(
            pb::CreateEnvironmentRequest {
                display_name: "Bench".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .environment
        .unwrap()
        .id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid);
    println!("load average at start: {}", load_average());

    // Open the watchers, 200 at a time.
    let opened = Instant::now();
    let ready = Arc::new(AtomicUsize::new(0));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut starting = Vec::new();
    for i in 0..args.watchers {
        let channel = channels[i % channels.len()].clone();
        let admin = admin.clone();
        let ready_now = ready.clone();
        let done = done_tx.clone();
        let expected = args.events;
        starting.push(tokio::spawn(async move {
            let mut stream = EventServiceClient::new(channel)
                .watch_events(authed(pb::WatchEventsRequest::default(), &admin))
                .await
                .expect("watch")
                .into_inner();
            ready_now.fetch_add(1, Ordering::Relaxed);
            let mut latencies = Vec::with_capacity(expected);
            while latencies.len() < expected {
                match tokio::time::timeout(Duration::from_secs(60), stream.message()).await {
                    Ok(Ok(Some(event))) => {
                        let t = event.create_time.unwrap();
                        let created = t.seconds * 1_000_000 + i64::from(t.nanos / 1000);
                        latencies.push((now_micros() - created).max(0) as u64);
                    }
                    Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
                }
            }
            let _ = done.send(latencies);
            // Keep the stream open until every watcher is done.
            drop(stream);
        }));
        if starting.len() % 200 == 0 {
            while ready.load(Ordering::Relaxed) + 50 < starting.len() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    drop(done_tx);
    while ready.load(Ordering::Relaxed) < args.watchers {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open_time = opened.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    println!(
        "{} watchers open in {:.1} s over {} connections; server RSS {} MiB -> {} MiB: {:.1} KiB per idle watcher",
        args.watchers,
        open_time.as_secs_f64(),
        channels.len(),
        rss_before / 1024,
        rss_after / 1024,
        (rss_after.saturating_sub(rss_before)) as f64 / args.watchers as f64
    );

    // The changes: one `user_tokens.revoked` event each.
    let mut envs = EnvironmentServiceClient::new(channels[0].clone());
    let started = Instant::now();
    for i in 0..args.events {
        envs.revoke_environment_user_tokens(authed(
            pb::RevokeEnvironmentUserTokensRequest {
                environment_id: env.clone(),
                user_id: format!("user-{i}"),
            },
            &admin,
        ))
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let mut complete = 0;
    let mut delivered = 0;
    while let Some(latencies) = done_rx.recv().await {
        complete += usize::from(latencies.len() == args.events);
        delivered += latencies.len();
        for l in latencies {
            histogram.record(l).unwrap();
        }
    }
    println!(
        "{} events x {} watchers in {:.1} s: {} of {} deliveries, {} watchers got every event",
        args.events,
        args.watchers,
        started.elapsed().as_secs_f64(),
        delivered,
        args.events * args.watchers,
        complete
    );
    println!(
        "delivery latency from create_time: p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.value_at_quantile(0.999) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0
    );
    println!("load average at end: {}", load_average());
}
