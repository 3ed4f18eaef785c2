//! Per-key usage over time (issue 13): calls with every outcome, counted
//! in memory and flushed within seconds, read back exactly by key and by
//! environment, by hour and by day; over two replicas on one PostgreSQL
//! database; `ListKeys`' 24-hour count; `pulse keys usage`.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use pulse::pb;
use tonic::{Code, Status};

use crate::both_backends;
use crate::helpers::environment;
use crate::helpers::{Backend, Client, TestApp, assert_code, spawn_app, spawn_app_on};

/// What a key is expected to have done, as [`Totals`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    success: i64,
    failure: i64,
    minted: i64,
    revoked: i64,
    expired: i64,
    not_allowed_network: i64,
    permission_denied: i64,
}

impl Totals {
    fn of(buckets: &[pb::UsageBucket]) -> Self {
        let mut t = Totals::default();
        for b in buckets {
            t.success += b.success_count;
            t.failure += b.failure_count;
            t.minted += b.minted_token_count;
            t.revoked += b.revoked_count;
            t.expired += b.expired_count;
            t.not_allowed_network += b.not_allowed_network_count;
            t.permission_denied += b.permission_denied_count;
            assert_eq!(
                b.failure_count,
                b.revoked_count
                    + b.expired_count
                    + b.not_allowed_network_count
                    + b.permission_denied_count,
                "failures are the sum of the reasons"
            );
        }
        t
    }

    fn add(&mut self, other: Totals) {
        self.success += other.success;
        self.failure += other.failure;
        self.minted += other.minted;
        self.revoked += other.revoked;
        self.expired += other.expired;
        self.not_allowed_network += other.not_allowed_network;
        self.permission_denied += other.permission_denied;
    }
}

async fn key_usage(
    admin: &Client,
    key_id: &str,
    granularity: pb::UsageGranularity,
) -> Result<Vec<pb::UsageBucket>, Status> {
    key_usage_in(admin, key_id, None, None, granularity).await
}

async fn key_usage_in(
    admin: &Client,
    key_id: &str,
    start_time: Option<prost_types::Timestamp>,
    end_time: Option<prost_types::Timestamp>,
    granularity: pb::UsageGranularity,
) -> Result<Vec<pb::UsageBucket>, Status> {
    admin
        .environments_client()
        .get_key_usage(admin.request(pb::GetKeyUsageRequest {
            key_id: key_id.to_owned(),
            start_time,
            end_time,
            granularity: granularity as i32,
        }))
        .await
        .map(|r| r.into_inner().buckets)
}

async fn environment_usage(
    admin: &Client,
    environment_id: &str,
    granularity: pb::UsageGranularity,
) -> Result<Vec<pb::UsageBucket>, Status> {
    admin
        .environments_client()
        .get_environment_usage(admin.request(pb::GetEnvironmentUsageRequest {
            environment_id: environment_id.to_owned(),
            granularity: granularity as i32,
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().buckets)
}

/// Polls until every key's totals are `expected` (the flush runs every
/// second; the contract is 5 s), then returns what was read.
async fn wait_for(admin: &Client, expected: &HashMap<String, Totals>) -> HashMap<String, Totals> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut seen = HashMap::new();
        for key in expected.keys() {
            let buckets = key_usage(admin, key, pb::UsageGranularity::Hour)
                .await
                .unwrap();
            seen.insert(key.clone(), Totals::of(&buckets));
        }
        if &seen == expected || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn secret(key: &pb::CreateKeyResponse) -> (String, String) {
    let info = key.key.as_ref().unwrap();
    (info.id.clone(), key.secret_key.clone())
}

fn in_seconds(seconds: i64) -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    prost_types::Timestamp {
        seconds: now.as_secs() as i64 + seconds,
        nanos: 0,
    }
}

async fn list_rooms(client: &Client) -> Result<(), Status> {
    client.list_rooms().await.map(drop)
}

async fn calls_are_counted_exactly_by_key_and_outcome(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let env = environment(&app, "Production").await;
    let keys = app.list_keys(&env.id).await;
    let pk_id = keys
        .iter()
        .find(|k| k.kind == pb::ApiKeyKind::Publishable as i32)
        .unwrap()
        .id
        .clone();
    let mut expected: HashMap<String, Totals> = HashMap::new();
    let mut add = |key: &str, t: Totals| expected.entry(key.to_owned()).or_default().add(t);
    let ok = |n| Totals {
        success: n,
        ..Totals::default()
    };

    // sk_: 3 calls and 2 tokens minted (each mint is also a call).
    let sk = app.as_secret(&env.sk);
    for _ in 0..3 {
        sk.whoami().await.unwrap();
    }
    let token = sk.mint_user_token("alice").await.unwrap().token;
    sk.mint_user_token("bob").await.unwrap();
    add(&env.sk_id, ok(5));
    add(
        &env.sk_id,
        Totals {
            minted: 2,
            ..Totals::default()
        },
    );
    // pk_ + user token: counted for the publishable key.
    let user = app.as_frontend(&env.pk, Some(&token));
    for _ in 0..4 {
        user.whoami().await.unwrap();
    }
    add(&pk_id, ok(4));

    // rk_: 2 allowed calls, 1 without the permission.
    let rk = admin
        .create_restricted_key(&env.id, &["rooms.read"])
        .await
        .unwrap();
    let (rk_id, rk) = secret(&rk);
    let rk = app.as_secret(&rk);
    list_rooms(&rk).await.unwrap();
    list_rooms(&rk).await.unwrap();
    assert_code(rk.create_room("r1").await, Code::PermissionDenied);
    add(&rk_id, ok(2));
    add(
        &rk_id,
        Totals {
            failure: 1,
            permission_denied: 1,
            ..Totals::default()
        },
    );
    // A restricted key with nothing useful: 3 refusals.
    let useless = admin
        .create_restricted_key(&env.id, &["comments.read"])
        .await
        .unwrap();
    let (useless_id, useless) = secret(&useless);
    let useless = app.as_secret(&useless);
    for _ in 0..3 {
        assert_code(list_rooms(&useless).await, Code::PermissionDenied);
    }
    add(
        &useless_id,
        Totals {
            failure: 3,
            permission_denied: 3,
            ..Totals::default()
        },
    );

    // A secret key used once, minting one token, then revoked: 3 refused
    // calls, and its token refused once (counted for the publishable key).
    let doomed = admin
        .create_key(&env.id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap();
    let (doomed_id, doomed) = secret(&doomed);
    let doomed = app.as_secret(&doomed);
    doomed.whoami().await.unwrap();
    let orphan = doomed.mint_user_token("carol").await.unwrap().token;
    admin.revoke_key(&doomed_id).await.unwrap();
    for _ in 0..3 {
        assert_code(doomed.whoami().await, Code::Unauthenticated);
    }
    assert_code(
        app.as_frontend(&env.pk, Some(&orphan)).whoami().await,
        Code::Unauthenticated,
    );
    add(
        &doomed_id,
        Totals {
            success: 2,
            minted: 1,
            failure: 3,
            revoked: 3,
            ..Totals::default()
        },
    );
    add(
        &pk_id,
        Totals {
            failure: 1,
            revoked: 1,
            ..Totals::default()
        },
    );

    // A key that expires: `tests/clock/keys.rs` (calls after its expiry
    // count as `expired`).

    // A key pinned to a network the test does not call from.
    let pinned = admin
        .create_key_with(pb::CreateKeyRequest {
            environment_id: env.id.clone(),
            kind: pb::ApiKeyKind::Secret as i32,
            allowed_cidrs: vec!["10.0.0.0/8".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let (pinned_id, pinned) = secret(&pinned);
    let pinned = app.as_secret(&pinned);
    for _ in 0..2 {
        assert_code(pinned.whoami().await, Code::Unauthenticated);
    }
    add(
        &pinned_id,
        Totals {
            failure: 2,
            not_allowed_network: 2,
            ..Totals::default()
        },
    );

    let seen = wait_for(&admin, &expected).await;
    assert_eq!(seen, expected, "per key, exactly");

    // The environment: the sum over its keys, by hour and by day.
    let mut total = Totals::default();
    expected.values().for_each(|t| total.add(*t));
    let hours = environment_usage(&admin, &env.id, pb::UsageGranularity::Hour)
        .await
        .unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(Totals::of(&hours), total);
    let days = environment_usage(&admin, &env.id, pb::UsageGranularity::Day)
        .await
        .unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(Totals::of(&days), total);
    let key_days = key_usage(&admin, &env.sk_id, pb::UsageGranularity::Day)
        .await
        .unwrap();
    assert_eq!(Totals::of(&key_days), expected[&env.sk_id]);

    // Buckets: on boundaries, oldest first, one step apart, the last one
    // holding now.
    let now = in_seconds(0).seconds;
    for (buckets, step) in [(&hours, 3600), (&days, 86_400)] {
        let starts: Vec<i64> = buckets
            .iter()
            .map(|b| b.start_time.unwrap().seconds)
            .collect();
        assert!(starts.iter().all(|s| s % step == 0), "{starts:?}");
        assert!(starts.windows(2).all(|w| w[1] - w[0] == step));
        let last = *starts.last().unwrap();
        assert!(last <= now && now < last + step + 5);
    }

    // ListKeys: the 24-hour success count of each key.
    for key in app.list_keys(&env.id).await {
        let want = expected.get(&key.id).map_or(0, |t| t.success);
        assert_eq!(key.success_count_24h, want, "{}", key.id);
    }
}

async fn usage_requests_are_validated_and_scoped(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.as_admin();
    let env = environment(&app, "Production").await;
    let hour = pb::UsageGranularity::Hour;
    let at = |seconds: i64| prost_types::Timestamp { seconds, nanos: 0 };

    // A quiet key: every bucket, all zeros.
    let quiet = key_usage(&admin, &env.sk_id, hour).await.unwrap();
    assert_eq!(quiet.len(), 24);
    assert_eq!(Totals::of(&quiet), Totals::default());
    // Rounded to whole buckets: 10:30 → 12:10 is three hours.
    let day = 1_800_000_000 / 86_400 * 86_400;
    let three = key_usage_in(
        &admin,
        &env.sk_id,
        Some(at(day + 10 * 3600 + 1800)),
        Some(at(day + 12 * 3600 + 600)),
        hour,
    )
    .await
    .unwrap();
    let starts: Vec<i64> = three
        .iter()
        .map(|b| b.start_time.unwrap().seconds)
        .collect();
    assert_eq!(
        starts,
        vec![day + 10 * 3600, day + 11 * 3600, day + 12 * 3600]
    );

    for (start, end, granularity) in [
        (Some(at(day)), Some(at(day)), hour),
        (Some(at(day + 3600)), Some(at(day)), hour),
        // 1,001 hours.
        (Some(at(day)), Some(at(day + 1001 * 3600)), hour),
        (
            Some(at(day)),
            Some(at(day + 1001 * 86_400)),
            pb::UsageGranularity::Day,
        ),
    ] {
        assert_code(
            key_usage_in(&admin, &env.sk_id, start, end, granularity).await,
            Code::InvalidArgument,
        );
    }
    assert_code(key_usage(&admin, "nope", hour).await, Code::InvalidArgument);
    // Another account's key and environment do not exist for us; an
    // environment credential is no admin.
    let theirs = app.as_admin_token(&app.create_account("other", "test").await);
    assert_code(key_usage(&theirs, &env.sk_id, hour).await, Code::NotFound);
    assert_code(
        environment_usage(&theirs, &env.id, hour).await,
        Code::NotFound,
    );
    let missing = format!("key_{}", "0".repeat(env.sk_id.len() - 4));
    assert_code(key_usage(&admin, &missing, hour).await, Code::NotFound);
    assert_code(
        key_usage(&app.as_secret(&env.sk), &env.sk_id, hour).await,
        Code::PermissionDenied,
    );

    // Deleting the environment deletes its usage with it.
    app.as_secret(&env.sk).whoami().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Totals::of(&key_usage(&admin, &env.sk_id, hour).await.unwrap()).success == 0 {
        assert!(Instant::now() < deadline, "flushed within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin.delete_environment(&env.id).await.unwrap();
    assert_eq!(
        crate::helpers::query_count(
            &app.database_url,
            &format!(
                "SELECT COUNT(*) AS n FROM key_usage WHERE environment_id = '{}'",
                env.id
            )
        )
        .await,
        0
    );
}

async fn the_last_counts_are_written_at_shutdown(backend: Backend) {
    let app = spawn_app(backend).await;
    let env = environment(&app, "Production").await;
    let sk = app.as_secret(&env.sk);
    for _ in 0..7 {
        sk.whoami().await.unwrap();
    }
    // Stopped at once: the graceful shutdown flushes what the timer has not.
    let app = app.restart().await;
    let buckets = key_usage(&app.as_admin(), &env.sk_id, pb::UsageGranularity::Hour)
        .await
        .unwrap();
    assert_eq!(Totals::of(&buckets).success, 7);
}

async fn pulse_keys_usage_prints_a_table(backend: Backend) {
    let app = spawn_app(backend).await;
    let env = environment(&app, "Production").await;
    let sk = app.as_secret(&env.sk);
    for _ in 0..3 {
        sk.whoami().await.unwrap();
    }
    let admin = app.as_admin();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Totals::of(
        &key_usage(&admin, &env.sk_id, pb::UsageGranularity::Hour)
            .await
            .unwrap(),
    )
    .success
        < 3
    {
        assert!(Instant::now() < deadline, "flushed within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args(args)
            .env_remove("RUST_LOG")
            .env("PULSE_ADDR", format!("http://{}", app.addr))
            .env("PULSE_ADMIN_TOKEN", &app.admin_token)
            .output()
            .expect("run pulse");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&["keys", "usage", &env.sk_id, "--since", "6h"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("BUCKET") && lines[0].contains("SUCCESS"),
        "{table}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with('Z') || l.contains("Z "))
            .count(),
        6,
        "{table}"
    );
    assert!(table.contains('█'), "a sparkline of successes:\n{table}");
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "keys",
        "usage",
        &env.sk_id,
        "--since",
        "2d",
        "--granularity",
        "day",
        "--json",
    ]))
    .unwrap();
    let buckets = json.as_array().unwrap();
    assert_eq!(buckets.len(), 2);
    let success: i64 = buckets.iter().map(|b| b["success"].as_i64().unwrap()).sum();
    assert_eq!(success, 3);
}

both_backends!(
    calls_are_counted_exactly_by_key_and_outcome,
    usage_requests_are_validated_and_scoped,
    the_last_counts_are_written_at_shutdown,
    pulse_keys_usage_prints_a_table,
);

/// Two replicas on one PostgreSQL database: each counts its own calls and
/// adds them to the same rows, so the key's usage is the total exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_two_replicas_sum_their_counts() {
    let first = spawn_app(Backend::Postgres).await;
    let second: TestApp = spawn_app_on(Backend::Postgres, first.database_url.clone()).await;
    let admin = first.as_admin();
    let env = environment(&first, "Production").await;
    let doomed = admin
        .create_key(&env.id, pb::ApiKeyKind::Secret, None)
        .await
        .unwrap();
    let (doomed_id, doomed) = secret(&doomed);
    let (one, two) = (first.as_secret(&env.sk), second.as_secret(&env.sk));
    let mut calls = Vec::new();
    for i in 0..40 {
        let client = if i % 3 == 0 { one.clone() } else { two.clone() };
        calls.push(tokio::spawn(async move { client.whoami().await.unwrap() }));
    }
    for call in calls {
        call.await.unwrap();
    }
    one.mint_user_token("alice").await.unwrap();
    two.mint_user_token("bob").await.unwrap();
    // Revoked on the first replica, refused on both.
    admin.revoke_key(&doomed_id).await.unwrap();
    assert_code(
        first.as_secret(&doomed).whoami().await,
        Code::Unauthenticated,
    );
    assert_code(
        second.as_secret(&doomed).whoami().await,
        Code::Unauthenticated,
    );
    assert_code(
        second.as_secret(&doomed).whoami().await,
        Code::Unauthenticated,
    );

    let expected = HashMap::from([
        (
            env.sk_id.clone(),
            Totals {
                success: 42,
                minted: 2,
                ..Totals::default()
            },
        ),
        (
            doomed_id,
            Totals {
                failure: 3,
                revoked: 3,
                ..Totals::default()
            },
        ),
    ]);
    // Read through either replica: the same rows.
    assert_eq!(wait_for(&admin, &expected).await, expected);
    let through_second = second.as_admin_token(&first.admin_token);
    assert_eq!(wait_for(&through_second, &expected).await, expected);
}
