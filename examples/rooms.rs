//! Room access stored on rooms (issue 24), measured on a release server:
//!
//! 1. Throughput, same run, rounds between health baselines: GetRoom by a
//!    STORED-mode user ÷ GetRoom by `sk_`, and WhoAmI `pk_` + user token ÷
//!    health (the frontend path), with the load driver and, with
//!    `--h2load`, from outside with h2load.
//! 2. ListRooms latency for a STORED-mode user who opens 100 of 100,000
//!    rooms (the other rooms carry other users' and groups' entries, so
//!    the indexes are not trivially small); the backend's ListRooms for
//!    that user too.
//! 3. On PostgreSQL (`--database-url postgres://…`): a second replica, and
//!    the time from `UpdateRoomAccess` returning on the first to the
//!    second refusing the user (0 when its first probe is refused).
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example rooms -- --seconds 3 --rounds 3 --h2load
//! cargo run --release --example rooms -- --seconds 3 --rounds 3 \
//!     --database-url postgres://postgres@127.0.0.1:5432/pulse_rooms_bench
//! ```
//! The 100,000 rooms are inserted with SQL (seeding through the API would
//! take minutes); every measured call goes through the API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{CallFn, drive, get_room, health_call, prepare, start_server, who_am_i, with_headers};
use hdrhistogram::Histogram;
use pulse::pb;
use sea_orm::{ConnectionTrait, Database};
use tonic::transport::Channel;

mod common;

#[derive(Parser, Debug)]
struct Args {
    /// Seconds per throughput scenario.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Rounds of the throughput scenarios.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent calls.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// PostgreSQL database to (re)create; default: a fresh SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Also measure from outside with h2load.
    #[arg(long)]
    h2load: bool,
    /// Rooms in the environment for the ListRooms measurement.
    #[arg(long, default_value_t = 100_000)]
    rooms: usize,
    /// ListRooms calls measured.
    #[arg(long, default_value_t = 500)]
    list_calls: usize,
}

/// The room every GetRoom scenario reads.
const ROOM: &str = "bench-room";

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

fn frontend(pk: &str, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-pulse-publishable-key", pk.to_owned()),
        ("authorization", format!("Bearer {token}")),
    ]
}

async fn mint(channel: &Channel, sk: &str, user: &str, stored: bool) -> String {
    let mut client = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let request = pb::MintUserTokenRequest {
        user_id: user.into(),
        room_access_mode: if stored {
            pb::RoomAccessMode::Stored as i32
        } else {
            0
        },
        group_ids: if stored {
            vec!["readers".into()]
        } else {
            vec![]
        },
        ttl_seconds: 86_400,
        ..Default::default()
    };
    client
        .mint_user_token(common::authed(request, &bearer(sk)))
        .await
        .unwrap()
        .into_inner()
        .token
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let postgres = args.database_url.clone();
    let url = match &postgres {
        Some(url) => recreate(url).await,
        None => common::database_url(None, dir.path()),
    };
    let backend = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let (_, master) = pulse::auth::sealing::MasterKey::generate();
    let server = start_server(&url, &master, true);
    let channels = server.channels(4).await;
    let ch = channels[0].clone();
    let created = pb::environment_service_client::EnvironmentServiceClient::new(ch.clone())
        .create_environment(common::authed(
            pb::CreateEnvironmentRequest {
                display_name: "Bench".into(),
            },
            &bearer(&server.admin_token),
        ))
        .await
        .unwrap()
        .into_inner();
    let sk = created.secret_key.clone();
    let pk = created.publishable_key.unwrap().value;
    let env_id = created.environment.unwrap().id;
    let mut rooms = pb::room_service_client::RoomServiceClient::new(ch.clone());
    rooms
        .create_room(common::authed(
            pb::CreateRoomRequest {
                room_id: ROOM.into(),
                user_accesses: HashMap::from([("alice".into(), pb::RoomAccess::Read as i32)]),
                ..Default::default()
            },
            &bearer(&sk),
        ))
        .await
        .unwrap();
    let stored = mint(&ch, &sk, "alice", true).await;
    let token = mint(&ch, &sk, "alice", false).await;

    // 1. Throughput.
    let scenarios: Vec<(&str, CallFn)> = vec![
        ("GetRoom sk_", get_room(ROOM, &bearer(&sk))),
        (
            "GetRoom STORED-mode user",
            get_room(ROOM, &frontend(&pk, &stored)),
        ),
        ("WhoAmI pk_+token", who_am_i(&frontend(&pk, &token))),
        (
            "WhoAmI pk_+STORED-mode token",
            who_am_i(&frontend(&pk, &stored)),
        ),
    ];
    println!(
        "\n{backend}: {} concurrent calls over {} connections, {}s per scenario, {} rounds",
        args.concurrency,
        channels.len(),
        args.seconds,
        args.rounds
    );
    println!(
        "| round | health req/s | {} |",
        scenarios
            .iter()
            .map(|s| format!("{} × health", s.0))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---:|---:|{}", "---:|".repeat(scenarios.len()));
    let mut ratios = vec![Vec::new(); scenarios.len()];
    let mut stored_over_sk = Vec::new();
    for round in 1..=args.rounds {
        let before = drive(
            "health",
            &channels,
            args.concurrency,
            args.seconds,
            health_call(),
        )
        .await;
        let mut rps = Vec::new();
        for (name, call) in &scenarios {
            let out = drive(
                name,
                &channels,
                args.concurrency,
                args.seconds,
                call.clone(),
            )
            .await;
            assert_eq!(out.errors, 0, "{name} failed");
            rps.push(out.rps);
        }
        let after = drive(
            "health",
            &channels,
            args.concurrency,
            args.seconds,
            health_call(),
        )
        .await;
        let base = (before.rps + after.rps) / 2.0;
        let cells: Vec<String> = rps.iter().map(|r| format!("{:.2}", r / base)).collect();
        println!("| {round} | {base:.0} | {} |", cells.join(" | "));
        for (i, r) in rps.iter().enumerate() {
            ratios[i].push(r / base);
        }
        stored_over_sk.push(rps[1] / rps[0]);
    }
    println!("\nmedians: ");
    for ((name, _), r) in scenarios.iter().zip(&mut ratios) {
        println!("- {name}: {:.2} × health", median(r));
    }
    println!(
        "- GetRoom STORED-mode user ÷ GetRoom sk_: {:.2} (rounds {:?})",
        median(&mut stored_over_sk.clone()),
        stored_over_sk
            .iter()
            .map(|r| (r * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    if args.h2load {
        h2load_rounds(&args, &server.addr, &sk, &pk, &token, &stored, dir.path());
    }

    // 2. ListRooms for a user who opens 100 of N rooms.
    seed_rooms(&url, &env_id, args.rooms).await;
    let step = args.rooms / 100;
    for i in 0..100 {
        let mut request = pb::UpdateRoomAccessRequest {
            room_id: format!("seed-{:06}", i * step + step / 2),
            ..Default::default()
        };
        request
            .set_user_accesses
            .insert("carol".into(), pb::RoomAccess::Read as i32);
        rooms
            .update_room_access(common::authed(request, &bearer(&sk)))
            .await
            .unwrap();
    }
    let carol = mint(&ch, &sk, "carol", true).await;
    let as_carol = frontend(&pk, &carol);
    let list = |headers: Vec<(&'static str, String)>, user: &str| {
        let mut client = rooms.clone();
        let user = user.to_owned();
        async move {
            let mut hist = Histogram::<u64>::new(3).unwrap();
            for _ in 0..args.list_calls {
                let t0 = Instant::now();
                let page = client
                    .list_rooms(common::authed(
                        pb::ListRoomsRequest {
                            page_size: 100,
                            user_id: user.clone(),
                            group_ids: if user.is_empty() {
                                vec![]
                            } else {
                                vec!["readers".into()]
                            },
                            ..Default::default()
                        },
                        &headers,
                    ))
                    .await
                    .unwrap()
                    .into_inner();
                hist.record(t0.elapsed().as_micros() as u64).unwrap();
                assert_eq!(page.rooms.len(), 100, "carol opens 100 rooms");
            }
            hist
        }
    };
    let by_user = list(as_carol, "").await;
    let for_user = list(bearer(&sk), "carol").await;
    println!(
        "\nListRooms (page of 100) for a user who opens 100 of {} rooms, {} calls, {backend}",
        args.rooms, args.list_calls
    );
    println!("| caller | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|");
    for (name, h) in [
        ("the user (STORED-mode token)", by_user),
        ("the backend, user_id=carol", for_user),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
    }

    // 3. A second replica: UpdateRoomAccess returning → refused there.
    if postgres.is_some() {
        let second = start_server(&url, &master, false);
        let other = second.channels(1).await.remove(0);
        let alice = prepare(&frontend(&pk, &stored));
        let mut on_second = pb::room_service_client::RoomServiceClient::new(other);
        let mut hist = Histogram::<u64>::new(3).unwrap();
        let mut stale = 0;
        for _ in 0..100 {
            let mut grant = pb::UpdateRoomAccessRequest {
                room_id: ROOM.into(),
                ..Default::default()
            };
            grant
                .set_user_accesses
                .insert("alice".into(), pb::RoomAccess::Read as i32);
            rooms
                .update_room_access(common::authed(grant, &bearer(&sk)))
                .await
                .unwrap();
            // Warm the second replica's cache.
            on_second
                .get_room(with_headers(
                    pb::GetRoomRequest {
                        room_id: ROOM.into(),
                    },
                    &alice,
                ))
                .await
                .unwrap();
            let revoke = pb::UpdateRoomAccessRequest {
                room_id: ROOM.into(),
                remove_user_ids: vec!["alice".into()],
                ..Default::default()
            };
            rooms
                .update_room_access(common::authed(revoke, &bearer(&sk)))
                .await
                .unwrap();
            let returned = Instant::now();
            let mut first = true;
            loop {
                let probe = on_second
                    .get_room(with_headers(
                        pb::GetRoomRequest {
                            room_id: ROOM.into(),
                        },
                        &alice,
                    ))
                    .await;
                if probe.is_err() {
                    break;
                }
                if first {
                    stale += 1;
                    first = false;
                }
                assert!(returned.elapsed() < Duration::from_secs(5), "never refused");
            }
            let delay = if first {
                0
            } else {
                returned.elapsed().as_micros() as u64
            };
            hist.record(delay).unwrap();
        }
        println!("\nUpdateRoomAccess on replica 1 → alice refused on replica 2, 100 changes");
        println!("| p50 µs | p99 µs | first probe after the return still accepted |");
        println!("|---:|---:|---:|");
        println!(
            "| {} | {} | {stale} of 100 |",
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99)
        );
    }
}

/// Drops and creates the PostgreSQL database of `url`; returns `url`.
async fn recreate(url: &str) -> String {
    let (base, name) = url.rsplit_once('/').expect("a database name");
    let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    url.to_owned()
}

/// Inserts `n` rooms `seed-000000…` closed by default, with other users'
/// and groups' entries on every other one.
async fn seed_rooms(url: &str, env_id: &str, n: usize) {
    let db = Database::connect(url).await.unwrap();
    let postgres = url.starts_with("postgres");
    let series = if postgres {
        format!("SELECT g AS i FROM generate_series(0, {}) AS g", n - 1)
    } else {
        format!(
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) SELECT i FROM s",
            n - 1
        )
    };
    let pad = if postgres {
        "lpad(i::text, 6, '0')"
    } else {
        "printf('%06d', i)"
    };
    db.execute_unprepared(&format!(
        "INSERT INTO rooms (environment_id, room_id, metadata, create_time, default_access, readable_by_default) \
         SELECT '{env_id}', 'seed-' || {pad}, '{{}}', 0, 0, 0 FROM ({series}) AS t"
    ))
    .await
    .unwrap();
    for (subject, modulo) in [("u:bob", 2), ("g:others", 3), ("g:readers", 0)] {
        if modulo == 0 {
            continue;
        }
        db.execute_unprepared(&format!(
            "INSERT INTO room_accesses (environment_id, room_seq, subject, access) \
             SELECT environment_id, seq, '{subject}', 1 FROM rooms \
             WHERE environment_id = '{env_id}' AND room_id LIKE 'seed-%' AND seq % {modulo} = 0"
        ))
        .await
        .unwrap();
    }
    db.execute_unprepared("ANALYZE").await.unwrap();
}

/// h2load rounds: health, GetRoom sk_, GetRoom STORED-mode user, WhoAmI
/// pk_+token, health.
fn h2load_rounds(
    args: &Args,
    addr: &str,
    sk: &str,
    pk: &str,
    token: &str,
    stored: &str,
    dir: &std::path::Path,
) {
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, [0u8; 5]).unwrap();
    let mut message = vec![0x0a, ROOM.len() as u8];
    message.extend_from_slice(ROOM.as_bytes());
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let room_frame = dir.join("get-room.bin");
    std::fs::write(&room_frame, frame).unwrap();
    let run = |method: &str, headers: &[(&'static str, String)], body: &std::path::Path| -> f64 {
        let mut cmd = std::process::Command::new("h2load");
        cmd.args(["-c16", "-m16", "-t1", "-D"])
            .arg(format!("{}", args.seconds))
            .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
            .arg("-d")
            .arg(body);
        for (k, v) in headers {
            cmd.args(["-H", &format!("{k}: {v}")]);
        }
        let out = cmd
            .arg(format!("http://{addr}{method}"))
            .output()
            .expect("h2load");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.starts_with("finished in"))
            .and_then(|l| l.split(", ").nth(1))
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0)
    };
    let health = "/grpc.health.v1.Health/Check";
    let get = "/pulse.v1.RoomService/GetRoom";
    let whoami = "/pulse.v1.AuthService/WhoAmI";
    println!("\nh2load -c16 -m16 -t1, {}s per run", args.seconds);
    println!(
        "| round | health req/s | GetRoom sk_ × health | GetRoom STORED × health | STORED ÷ sk_ | WhoAmI pk_+token × health |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let before = run(health, &[], &empty);
        let secret = run(get, &bearer(sk), &room_frame);
        let user = run(get, &frontend(pk, stored), &room_frame);
        let who = run(whoami, &frontend(pk, token), &empty);
        let after = run(health, &[], &empty);
        let base = (before + after) / 2.0;
        println!(
            "| {round} | {base:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            secret / base,
            user / base,
            user / secret,
            who / base
        );
        a.push(user / secret);
        b.push(who / base);
        c.push(secret / base);
    }
    println!(
        "\nh2load medians: GetRoom STORED ÷ sk_ {:.2}; WhoAmI pk_+token × health {:.2}; GetRoom sk_ × health {:.2}",
        median(&mut a),
        median(&mut b),
        median(&mut c)
    );
}
