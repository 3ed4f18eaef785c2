//! Shared by the load examples: start a release server, drive calls.
#![allow(dead_code)] // each example uses part of it

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

pub mod replicas;

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub admin_token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--database-url` if given, else a fresh SQLite file in `dir`.
pub fn database_url(given: Option<String>, dir: &std::path::Path) -> String {
    given.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()))
}

impl Server {
    /// `n` HTTP/2 connections to the server.
    pub async fn channels(&self, n: usize) -> Vec<Channel> {
        let endpoint = format!("http://{}", self.addr);
        let mut channels = Vec::with_capacity(n);
        for _ in 0..n {
            channels.push(
                Channel::from_shared(endpoint.clone())
                    .unwrap()
                    .connect()
                    .await
                    .unwrap(),
            );
        }
        channels
    }
}

/// Starts `target/release/pulse serve` on `database_url` with `master_key`;
/// waits for its address (and, on an empty database, its admin token).
pub fn start_server(database_url: &str, master_key: &str, expect_token: bool) -> Server {
    let exe = std::env::current_exe().unwrap();
    let pulse = exe.parent().unwrap().parent().unwrap().join("pulse");
    assert!(
        pulse.exists(),
        "build the server first: cargo build --release"
    );
    let mut child = Command::new(pulse)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .env("PULSE_MASTER_KEY", master_key)
        .env("PULSE_FAILED_AUTH_BURST", "1000000")
        .env(
            "PULSE_DATABASE_MAX_CONNECTIONS",
            std::env::var("PULSE_DATABASE_MAX_CONNECTIONS").unwrap_or_else(|_| "16".into()),
        )
        .env("PULSE_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pulse serve");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut admin_token = String::new();
    if expect_token {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(i) = line.find("ak_") {
                admin_token = line[i..].trim().to_owned();
                break;
            }
        }
    }
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = String::new();
    for line in stderr.lines().map_while(Result::ok) {
        if line.contains("pulse serving") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            addr = v["fields"]["listen"].as_str().unwrap().to_owned();
            break;
        }
    }
    assert!(!addr.is_empty(), "server did not start");
    assert!(
        !expect_token || !admin_token.is_empty(),
        "no admin token printed"
    );
    Server {
        child,
        addr,
        admin_token,
    }
}

pub fn authed<T>(msg: T, headers: &[(&'static str, String)]) -> Request<T> {
    with_headers(msg, &prepare(headers))
}

/// Metadata parsed once: a load generator should spend its CPU on calls,
/// not on re-validating a 400-byte user token for each one (cloning a
/// prepared value is a reference count).
pub type Headers = Vec<(&'static str, MetadataValue<tonic::metadata::Ascii>)>;

/// Parses `headers` once, for [`with_headers`].
pub fn prepare(headers: &[(&'static str, String)]) -> Headers {
    headers
        .iter()
        .map(|(k, v)| (*k, MetadataValue::try_from(v.as_str()).unwrap()))
        .collect()
}

/// A request carrying prepared headers.
pub fn with_headers<T>(msg: T, headers: &Headers) -> Request<T> {
    let mut r = Request::new(msg);
    for (k, v) in headers {
        r.metadata_mut().insert(*k, v.clone());
    }
    r
}

pub type CallFn = Arc<
    dyn Fn(
            Channel,
            u64,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tonic::Status>> + Send>>
        + Send
        + Sync,
>;

pub struct Outcome {
    pub name: String,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub errors: u64,
}

pub async fn drive(
    name: &str,
    channels: &[Channel],
    concurrency: usize,
    seconds: f64,
    call: CallFn,
) -> Outcome {
    // Warm up (caches, connections) for a short moment first.
    let warm_until = Instant::now() + Duration::from_millis(300);
    let counter = Arc::new(AtomicU64::new(0));
    while Instant::now() < warm_until {
        let _ = call(channels[0].clone(), counter.fetch_add(1, Ordering::Relaxed)).await;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let channel = channels[t % channels.len()].clone();
        let call = call.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).unwrap();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                if call(channel.clone(), n).await.is_err() {
                    errors += 1;
                }
                hist.record(t0.elapsed().as_micros() as u64).unwrap();
            }
            (hist, errors)
        }));
    }
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await.unwrap();
        hist.add(h).unwrap();
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Outcome {
        name: name.to_owned(),
        rps: hist.len() as f64 / elapsed,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        errors,
    }
}

/// `AuthService/WhoAmI` with `headers` (parsed once).
pub fn who_am_i(headers: &[(&'static str, String)]) -> CallFn {
    let headers = prepare(headers);
    Arc::new(move |ch, _| {
        let r = with_headers(pulse::pb::WhoAmIRequest {}, &headers);
        Box::pin(async move {
            pulse::pb::auth_service_client::AuthServiceClient::new(ch)
                .who_am_i(r)
                .await
                .map(|_| ())
        })
    })
}

/// `RoomService/GetRoom` of `room` with `headers` (parsed once).
pub fn get_room(room: &'static str, headers: &[(&'static str, String)]) -> CallFn {
    let headers = prepare(headers);
    Arc::new(move |ch, _| {
        let r = with_headers(
            pulse::pb::GetRoomRequest {
                room_id: room.into(),
            },
            &headers,
        );
        Box::pin(async move {
            pulse::pb::room_service_client::RoomServiceClient::new(ch)
                .get_room(r)
                .await
                .map(|_| ())
        })
    })
}

/// The bare-tonic baseline: `grpc.health.v1.Health/Check`.
pub fn health_call() -> CallFn {
    Arc::new(|ch, _| {
        Box::pin(async move {
            tonic_health::pb::health_client::HealthClient::new(ch)
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|_| ())
        })
    })
}
