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
//! # Least privilege (issue 12): restricted key, 1,000 room patterns.
//! cargo run --release --example load -- --seconds 3 --rounds 5 --only rk_,GetRoom,carrying
//! cargo run --release --example load -- --h2load-only --h2load-set least-privilege --seconds 3 --h2load-rounds 5
//! ```

use std::sync::Arc;

use clap::Parser;
use common::{
    CallFn, authed, database_url, drive, get_room, health_call, prepare, start_server, who_am_i,
    with_headers,
};
use pulse::pb;

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
    /// Only run scenarios whose name contains one of these
    /// (comma-separated); the health baselines always run.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Rounds of the (selected) scenarios, each between its own two health
    /// baselines; even rounds run the scenarios in reverse order. With more
    /// than one, a summary of the per-round ratios and their medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
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
    /// Which h2load table: `frontend` (health, WhoAmI sk_ and pk_+token),
    /// `least-privilege` (WhoAmI rk_, GetRoom with an empty and a
    /// 1,000-pattern room map, health carrying either's headers), or `all`.
    #[arg(long, default_value = "frontend")]
    h2load_set: String,
}

/// The room every GetRoom scenario reads. The 1,000-pattern token opens it
/// through the prefix `bench-*`, after probing its longer prefix lengths.
const ROOM: &str = "bench-room-0001";

/// 1,000 room patterns (~37 KiB of token): 599 exact ids and 400 prefixes,
/// both of varied lengths (prefixes 3–41 characters, 39 distinct lengths),
/// plus `bench-*` (read), which opens [`ROOM`]. None of the others
/// matches it.
fn room_patterns() -> std::collections::HashMap<String, i32> {
    let read = pb::RoomAccess::Read as i32;
    let write = pb::RoomAccess::Write as i32;
    let mut map = std::collections::HashMap::new();
    for i in 0..599 {
        let access = if i % 3 == 0 { write } else { read };
        map.insert(format!("r{i}-{}", "x".repeat(i % 17)), access);
    }
    for i in 0..400 {
        let access = if i % 2 == 0 { write } else { read };
        map.insert(format!("t{i}-{}*", "p".repeat(i % 37)), access);
    }
    map.insert("bench-*".into(), read);
    assert_eq!(map.len(), 1000);
    map
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(args.database_url.clone(), dir.path());
    let (_, master) = pulse::auth::sealing::MasterKey::generate();
    let server = start_server(&url, &master, true);
    let channels = server.channels(args.connections).await;
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
    let environment_id = created.environment.unwrap().id;
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
        ("x-pulse-publishable-key", pk.clone()),
        ("authorization", format!("Bearer {token}")),
    ];

    // Least privilege (issue 12): a restricted key, a room, and one user's
    // tokens without and with 1,000 room patterns.
    let rk = pb::environment_service_client::EnvironmentServiceClient::new(channels[0].clone())
        .create_key(authed(
            pb::CreateKeyRequest {
                environment_id,
                kind: pb::ApiKeyKind::Restricted as i32,
                permissions: vec!["comments.read".into()],
                display_name: "bench restricted".into(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .secret_key;
    assert!(rk.starts_with("rk_"), "CreateKey returned {rk:?}");
    let rk = vec![("authorization", format!("Bearer {rk}"))];
    pb::room_service_client::RoomServiceClient::new(channels[0].clone())
        .create_room(authed(
            pb::CreateRoomRequest {
                room_id: ROOM.into(),
                ..Default::default()
            },
            &sk,
        ))
        .await
        .unwrap();
    let mut user_headers = Vec::new();
    for rooms in [Default::default(), room_patterns()] {
        let token = pb::auth_service_client::AuthServiceClient::new(channels[0].clone())
            .mint_user_token(authed(
                pb::MintUserTokenRequest {
                    room_permissions: rooms,
                    ..mint("reader".into())
                },
                &sk,
            ))
            .await
            .unwrap()
            .into_inner()
            .token;
        user_headers.push(vec![
            ("x-pulse-publishable-key", pk.clone()),
            ("authorization", format!("Bearer {token}")),
        ]);
    }
    let rooms_1000 = user_headers.pop().unwrap();
    let rooms_empty = user_headers.pop().unwrap();
    // The map is in force: the room opens, a room outside it does not.
    for (room, ok) in [(ROOM, true), ("elsewhere", false)] {
        let got = pb::room_service_client::RoomServiceClient::new(channels[0].clone())
            .get_room(authed(
                pb::GetRoomRequest {
                    room_id: room.into(),
                },
                &rooms_1000,
            ))
            .await;
        match (ok, got) {
            (true, Ok(_)) => {}
            (false, Err(s)) if s.code() == tonic::Code::PermissionDenied => {}
            (_, got) => panic!("GetRoom {room} with 1,000 patterns: {got:?}"),
        }
    }
    println!(
        "1,000-pattern token: authorization header {} bytes (empty map: {} bytes)",
        rooms_1000[1].1.len(),
        rooms_empty[1].1.len()
    );
    let least = LeastPrivilege {
        rk,
        rooms_empty,
        rooms_1000,
    };

    if args.h2load || args.h2load_only {
        if matches!(args.h2load_set.as_str(), "frontend" | "all") {
            h2load_table(&args, &server.addr, &sk, &frontend, dir.path());
        }
        if matches!(args.h2load_set.as_str(), "least-privilege" | "all") {
            h2load_least_privilege(&args, &server.addr, server.child.id(), &least, dir.path());
        }
        if args.h2load_only {
            return;
        }
    }

    let mut scenarios: Vec<(&str, usize, CallFn)> = Vec::new();
    let health = health_call();
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
    scenarios.push(("WhoAmI rk_", args.concurrency, who_am_i(&least.rk)));
    scenarios.push((
        "GetRoom sk_ (reference)",
        args.concurrency,
        get_room(ROOM, &sk),
    ));
    scenarios.push((
        "GetRoom pk_+token empty map",
        args.concurrency,
        get_room(ROOM, &least.rooms_empty),
    ));
    scenarios.push((
        "GetRoom pk_+token 1000 patterns",
        args.concurrency,
        get_room(ROOM, &least.rooms_1000),
    ));
    // What the headers alone cost to send and receive: the health check
    // ignores them.
    scenarios.push((
        "health carrying the empty-map headers",
        args.concurrency,
        health_carrying(&least.rooms_empty),
    ));
    scenarios.push((
        "health carrying the 1000-pattern headers",
        args.concurrency,
        health_carrying(&least.rooms_1000),
    ));
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
    scenarios.retain(|(name, _, _)| {
        args.only.is_empty() || args.only.iter().any(|only| name.contains(only.as_str()))
    });

    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    // Per scenario, its ratio to health and its req/s in each round.
    let mut ratios: Vec<(String, Vec<f64>)> = scenarios
        .iter()
        .map(|(name, _, _)| (name.to_string(), Vec::new()))
        .collect();
    let mut rates = ratios.clone();
    let mut cpus = ratios.clone();
    for round in 1..=args.rounds {
        let mut order: Vec<usize> = (0..scenarios.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        let mut runs: Vec<(&str, usize, CallFn)> =
            vec![("health (baseline)", args.concurrency, health.clone())];
        runs.extend(order.into_iter().map(|i| scenarios[i].clone()));
        runs.push(("health (baseline, again)", args.concurrency, health.clone()));
        // Each run with the server's CPU time per call (its user + system
        // time over the run, warm-up included, over req/s × seconds).
        let mut outcomes = Vec::new();
        for (name, concurrency, call) in runs {
            let before = cpu_ns(server.child.id());
            let outcome = drive(name, &channels, concurrency, args.seconds, call).await;
            let calls = (outcome.rps * args.seconds).max(1.0);
            let cpu = cpu_ns(server.child.id()).saturating_sub(before) as f64 / 1000.0 / calls;
            outcomes.push((outcome, cpu));
        }
        let baseline = (outcomes[0].0.rps + outcomes[outcomes.len() - 1].0.rps) / 2.0;
        println!(
            "\nbackend: {backend}; {} connections, {} concurrent calls (CreateEnvironment: 32), {}s per scenario; round {round} of {}",
            args.connections, args.concurrency, args.seconds, args.rounds
        );
        println!(
            "| scenario | req/s | p50 µs | p99 µs | × health | errors | server CPU µs per call |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (o, cpu) in &outcomes {
            println!(
                "| {} | {:.0} | {} | {} | {:.2} | {} | {cpu:.1} |",
                o.name,
                o.rps,
                o.p50_us,
                o.p99_us,
                o.rps / baseline,
                o.errors
            );
            if let Some((_, r)) = cpus.iter_mut().find(|(name, _)| *name == o.name) {
                r.push(*cpu);
            }
            if let Some((_, r)) = ratios.iter_mut().find(|(name, _)| *name == o.name) {
                r.push(o.rps / baseline);
            }
            if let Some((_, r)) = rates.iter_mut().find(|(name, _)| *name == o.name) {
                r.push(o.rps);
            }
        }
    }
    if args.rounds > 1 {
        println!(
            "\n{} rounds: ratio to the round's health baseline",
            args.rounds
        );
        println!("| scenario | × health, per round | median | server CPU µs per call, median |");
        println!("|---|---|---:|---:|");
        let per_round = |r: &[f64]| {
            r.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for ((name, r), (_, cpu)) in ratios.iter().zip(&cpus) {
            println!(
                "| {name} | {} | {:.2} | {:.1} |",
                per_round(r),
                median(&mut r.clone()),
                median(&mut cpu.clone())
            );
        }
        // Same-round quotients: the 1,000-pattern read over the empty-map
        // read, and the same for the health check carrying their headers
        // (the transport's share).
        let get = |name: &str| ratios.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        for (label, a, b) in [
            (
                "GetRoom: 1000 patterns / empty map",
                "GetRoom pk_+token 1000 patterns",
                "GetRoom pk_+token empty map",
            ),
            (
                "health carrying: 1000-pattern / empty-map headers",
                "health carrying the 1000-pattern headers",
                "health carrying the empty-map headers",
            ),
        ] {
            if let (Some(a), Some(b)) = (get(a), get(b)) {
                let mut q: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
                println!("| {label} | {} | {:.2} | |", per_round(&q), median(&mut q));
            }
        }
        // Where the 1,000-pattern read's extra time goes: the machine's
        // time per request (1 / req/s, all cores, both processes) with the
        // big headers minus with the small ones, for GetRoom and for the
        // health check carrying the same headers (transport alone); the
        // difference is what the server does with the patterns.
        let rate = |name: &str| rates.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        if let (Some(g1), Some(g0), Some(h1), Some(h0)) = (
            rate("GetRoom pk_+token 1000 patterns"),
            rate("GetRoom pk_+token empty map"),
            rate("health carrying the 1000-pattern headers"),
            rate("health carrying the empty-map headers"),
        ) {
            let extra = |a: &[f64], b: &[f64]| -> Vec<f64> {
                a.iter().zip(b).map(|(a, b)| 1e6 / a - 1e6 / b).collect()
            };
            let read = extra(g1, g0);
            let transport = extra(h1, h0);
            let mut ours: Vec<f64> = read.iter().zip(&transport).map(|(r, t)| r - t).collect();
            let us = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{x:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "\nµs of machine time per request (1 / req/s), 1000 patterns minus empty map:"
            );
            println!("| | per round | median |");
            println!("|---|---|---:|");
            println!(
                "| GetRoom | {} | {:.1} |",
                us(&read),
                median(&mut read.clone())
            );
            println!(
                "| health carrying the same headers (transport) | {} | {:.1} |",
                us(&transport),
                median(&mut transport.clone())
            );
            println!(
                "| difference (the server's matching) | {} | {:.1} |",
                us(&ours),
                median(&mut ours)
            );
            let cpu = |name: &str| {
                let v = cpus.iter().find(|(n, _)| n == name).unwrap();
                median(&mut v.1.clone())
            };
            let read = cpu("GetRoom pk_+token 1000 patterns") - cpu("GetRoom pk_+token empty map");
            let transport = cpu("health carrying the 1000-pattern headers")
                - cpu("health carrying the empty-map headers");
            println!(
                "server CPU per call (medians), 1000 patterns minus empty map: GetRoom {read:.1} µs, health carrying the same headers {transport:.1} µs (transport), difference {:.1} µs (matching)",
                read - transport
            );
        }
    }
}

/// The credentials of the least-privilege scenarios.
struct LeastPrivilege {
    /// `rk_` with `comments.read`.
    rk: Vec<(&'static str, String)>,
    /// `pk_` and a user token with no room map (every room).
    rooms_empty: Vec<(&'static str, String)>,
    /// `pk_` and the same user's token with [`room_patterns`].
    rooms_1000: Vec<(&'static str, String)>,
}

/// The health check with `headers`, which it ignores.
fn health_carrying(headers: &[(&'static str, String)]) -> CallFn {
    let headers = prepare(headers);
    Arc::new(move |ch, _| {
        let r = with_headers(
            tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            },
            &headers,
        );
        Box::pin(async move {
            tonic_health::pb::health_client::HealthClient::new(ch)
                .check(r)
                .await
                .map(|_| ())
        })
    })
}

/// Runs h2load against one gRPC method for `seconds`; returns req/s.
fn h2load(
    addr: &str,
    method: &str,
    headers: &[(&'static str, String)],
    seconds: f64,
    body: &std::path::Path,
) -> f64 {
    h2load_counted(addr, method, headers, seconds, body).0
}

/// [`h2load`], also returning the requests that succeeded.
fn h2load_counted(
    addr: &str,
    method: &str,
    headers: &[(&'static str, String)],
    seconds: f64,
    body: &std::path::Path,
) -> (f64, u64) {
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
    let succeeded = text
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .and_then(|l| l.split(", ").find_map(|f| f.strip_suffix(" succeeded")))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("unexpected h2load output:\n{text}"));
    (rps, succeeded)
}

/// CPU time the process `pid` has used (user + system, exited threads
/// included), in ns: `/proc/<pid>/stat`, in clock ticks of 10 ms (Linux's
/// USER_HZ); 0 elsewhere. Per-thread counters would lose the time of
/// threads that exit during a run (tokio's idle blocking threads do).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // After the parenthesised command name: state is field 3, utime 14,
    // stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 1)..]
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) * 10_000_000
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

/// h2load rounds for least privilege: health, WhoAmI rk_, the health check
/// carrying the empty-map and the 1,000-pattern headers, GetRoom with
/// either token, health. Ratios use the mean of the round's two health
/// runs; "1000 / empty" divides the 1,000-pattern run by the empty-map run
/// of the same round. nghttp2 never indexes `authorization`, so both
/// tokens travel as Huffman-coded literals on every request here. Also the
/// server's CPU time per request (its user + system time over the run,
/// divided by the requests that succeeded): less sensitive to the shared
/// machine than req/s.
fn h2load_least_privilege(
    args: &Args,
    addr: &str,
    server_pid: u32,
    least: &LeastPrivilege,
    dir: &std::path::Path,
) {
    let empty = dir.join("empty-frame.bin");
    std::fs::write(&empty, [0u8; 5]).unwrap();
    // GetRoomRequest { room_id: ROOM } in one uncompressed gRPC frame.
    let mut message = vec![0x0a, ROOM.len() as u8];
    message.extend_from_slice(ROOM.as_bytes());
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let get_room = dir.join("get-room-frame.bin");
    std::fs::write(&get_room, frame).unwrap();
    let health = "/grpc.health.v1.Health/Check";
    let whoami = "/pulse.v1.AuthService/WhoAmI";
    let room = "/pulse.v1.RoomService/GetRoom";
    // (req/s, server CPU µs per request)
    let run = |method: &str, headers: &[(&'static str, String)], body: &std::path::Path| {
        let before = cpu_ns(server_pid);
        let (rps, done) = h2load_counted(addr, method, headers, args.seconds, body);
        let cpu = cpu_ns(server_pid).saturating_sub(before) as f64 / 1000.0 / done.max(1) as f64;
        (rps, cpu)
    };
    println!(
        "\nh2load -c16 -m16 -t1, {}s per run, least privilege; cells: × health (server CPU µs per request)",
        args.seconds
    );
    println!(
        "| round | health req/s (CPU µs) | WhoAmI rk_ | health, empty-map headers | health, 1000-pattern headers | GetRoom empty map | GetRoom 1000 patterns | GetRoom 1000 / empty | health carrying 1000 / empty |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut columns: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 5];
    let mut quotients = (Vec::new(), Vec::new());
    for round in 1..=args.h2load_rounds {
        let before = run(health, &[], &empty);
        let restricted = run(whoami, &least.rk, &empty);
        // Alternate which map goes first, so drift within a round does not
        // always favour the same one.
        let maps = [&least.rooms_empty, &least.rooms_1000];
        let mut carried = [(0.0, 0.0); 2];
        let mut reads = [(0.0, 0.0); 2];
        for i in [0, 1] {
            let i = if round % 2 == 1 { i } else { 1 - i };
            carried[i] = run(health, maps[i], &empty);
            reads[i] = run(room, maps[i], &get_room);
        }
        let after = run(health, &[], &empty);
        let base = (before.0 + after.0) / 2.0;
        let base_cpu = (before.1 + after.1) / 2.0;
        let cells = [restricted, carried[0], carried[1], reads[0], reads[1]];
        let shown: Vec<String> = cells
            .iter()
            .map(|(rps, cpu)| format!("{:.2} ({cpu:.0})", rps / base))
            .collect();
        println!(
            "| {round} | {base:.0} ({base_cpu:.0}) | {} | {:.2} | {:.2} |",
            shown.join(" | "),
            reads[1].0 / reads[0].0,
            carried[1].0 / carried[0].0,
        );
        for (column, (rps, cpu)) in columns.iter_mut().zip(cells) {
            column.push((rps / base, cpu));
        }
        quotients.0.push(reads[1].0 / reads[0].0);
        quotients.1.push(carried[1].0 / carried[0].0);
    }
    let names = [
        "WhoAmI rk_",
        "health, empty-map headers",
        "health, 1000-pattern headers",
        "GetRoom empty map",
        "GetRoom 1000 patterns",
    ];
    println!("\nmedians over {} rounds", args.h2load_rounds);
    println!("| scenario | × health | server CPU µs per request |");
    println!("|---|---:|---:|");
    let mut cpu = Vec::new();
    for (name, column) in names.iter().zip(&columns) {
        let mut ratio: Vec<f64> = column.iter().map(|c| c.0).collect();
        let mut us: Vec<f64> = column.iter().map(|c| c.1).collect();
        let us = median(&mut us);
        cpu.push(us);
        println!("| {name} | {:.2} | {us:.1} |", median(&mut ratio));
    }
    println!(
        "| GetRoom 1000 / empty (same round) | {:.2} | |",
        median(&mut quotients.0)
    );
    println!(
        "| health carrying 1000 / empty (same round) | {:.2} | |",
        median(&mut quotients.1)
    );
    println!(
        "server CPU per request, 1000 patterns minus empty map: GetRoom {:.1} µs, health carrying the same headers {:.1} µs (transport), difference {:.1} µs (matching)",
        cpu[4] - cpu[3],
        cpu[2] - cpu[1],
        (cpu[4] - cpu[3]) - (cpu[2] - cpu[1])
    );
}
