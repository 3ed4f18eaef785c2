//! In-process key resolution and token verification.
//!
//! ```sh
//! cargo bench --bench auth                          # criterion + percentile table
//! PULSE_BENCH_KEYS=1000000 cargo bench --bench auth -- --percentiles-only
//! cargo bench --bench auth -- --percentiles-only --permissions-only   # issue 12 checks alone
//! ```
//! PostgreSQL figures use `PULSE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); they are skipped, with a
//! line saying so, if it is unreachable.

use std::sync::Arc;
use std::time::Instant;

use criterion::{BatchSize, Criterion};
use hdrhistogram::Histogram;
use pulse::auth::credential::{self, CredentialKind, ParsedCredential};
use pulse::auth::layer::resolve_bearer;
use pulse::auth::policy::{Need, need_for_path};
use pulse::auth::ratelimit::{ColdLookups, FailedAuthLimiter};
use pulse::auth::sealing::MasterKey;
use pulse::auth::tokens::{Mint, TokenService};
use pulse::auth::{Caller, KeyIndex};
use pulse::cache::Cache;
use pulse::config::DatabaseSettings;
use pulse::domain::permissions::Permissions;
use pulse::domain::rooms::{RoomAccess, RoomClaim, RoomPolicy};
use pulse::store::Store;
use sea_orm::{ConnectionTrait, Database};

/// A store seeded with `n` secret keys (and as many publishable keys);
/// returns the plaintext secret keys.
async fn seeded(url: &str, n: usize) -> (Store, Vec<String>) {
    let store = Store::connect(&DatabaseSettings::from_url(url))
        .await
        .unwrap();
    store.prepare().await.unwrap();
    // Seeding bypasses the store (its pools are private): raw bulk SQL on
    // a connection of the bench's own.
    let raw = Database::connect(url).await.unwrap();
    // Bulk insert: 500 environments' keys per statement.
    let mut secrets = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch = (n - i).min(500);
        let mut values = Vec::with_capacity(batch * 2);
        for j in 0..batch {
            let env = format!("env_bench{}", i + j);
            for kind in [CredentialKind::Secret, CredentialKind::Publishable] {
                let cred = credential::generate(kind);
                let hash = cred.hash.to_hex();
                let id = pulse::domain::ids::new_id(pulse::domain::ids::IdKind::ApiKey);
                let kind_name = if kind == CredentialKind::Secret {
                    "secret"
                } else {
                    "publishable"
                };
                values.push(format!(
                    "('{id}', '{env}', 'acct_bench', '{kind_name}', '{}', '{hash}', NULL, 0, NULL, NULL)",
                    cred.display_prefix
                ));
                if kind == CredentialKind::Secret {
                    secrets.push(cred.plaintext.into_exposed());
                }
            }
        }
        raw.execute_unprepared(&format!(
                "INSERT INTO api_keys (id, environment_id, account_id, kind, prefix, key_hash, value, create_time, revoke_time, last_use_time) VALUES {}",
                values.join(",")
            ))
            .await
            .unwrap();
        i += batch;
    }
    (store, secrets)
}

async fn fresh_postgres() -> Option<String> {
    let base = std::env::var("PULSE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = Database::connect(&base).await.ok()?;
    let name = format!("pulse_bench_{}", std::process::id());
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .ok()?;
    Some(format!("{}/{name}", &base[..base.rfind('/')?]))
}

fn parsed(secret: &str) -> ParsedCredential {
    credential::parse(secret).unwrap()
}

fn percentiles(label: &str, hist: &Histogram<u64>) {
    println!(
        "| {label} | {} | {:.2} | {:.2} | {:.2} |",
        hist.len(),
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

async fn percentile_table(rt_keys: usize) {
    println!("\n| measurement (keys = {rt_keys}) | samples | p50 µs | p99 µs | max µs |");
    println!("|---|---:|---:|---:|---:|");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let mut backends = vec![("SQLite", sqlite)];
    // PULSE_BENCH_SQLITE_ONLY=1 skips PostgreSQL (a million-key run takes minutes per backend).
    if std::env::var("PULSE_BENCH_SQLITE_ONLY").is_err() {
        match fresh_postgres().await {
            Some(url) => backends.push(("PostgreSQL", url)),
            None => println!("| PostgreSQL unreachable: skipped | | | | |"),
        }
    }
    for (name, url) in backends {
        let (store, secrets) = seeded(&url, rt_keys).await;
        let keys: Vec<ParsedCredential> = secrets.iter().map(|s| parsed(s)).collect();

        // Cold: a fresh index per lookup batch, every lookup a miss.
        let index = KeyIndex::new(store.clone());
        let mut cold = Histogram::<u64>::new(3).unwrap();
        for key in keys.iter().take(2000) {
            let t = Instant::now();
            index.resolve(key).await.unwrap().unwrap();
            cold.record(t.elapsed().as_nanos() as u64).unwrap();
        }
        percentiles(&format!("{name}: cold miss (database lookup)"), &cold);

        // Warm: everything cached. Filled without the cold-lookup gate
        // (2,000 lookups/s by default): at that rate a million keys take
        // longer than an entry lives, and the "warm" hits would be misses.
        let before = rss();
        let ungated = ColdLookups::new(
            u32::MAX,
            Arc::new(FailedAuthLimiter::new(u32::MAX, u32::MAX)),
        );
        let index = KeyIndex::new(store.clone()).with_cold_lookups(ungated);
        for key in &keys {
            index.resolve(key).await.unwrap().unwrap();
        }
        let per_key = (rss().saturating_sub(before)) as f64 / keys.len() as f64;
        let mut warm = Histogram::<u64>::new(3).unwrap();
        for round in 0..200_000 {
            let key = &keys[(round * 7919) % keys.len()];
            let t = Instant::now();
            index.resolve(key).await.unwrap().unwrap();
            warm.record(t.elapsed().as_nanos() as u64).unwrap();
        }
        percentiles(&format!("{name}: warm hit (parse excluded)"), &warm);
        println!(
            "| {name}: memory per cached key ≈ {per_key:.0} bytes (RSS delta / keys) | | | | |"
        );

        // Unknown but well-formed keys: one query per key per negative TTL.
        let unknown = credential::generate(CredentialKind::Secret);
        let unknown = parsed(unknown.plaintext.expose());
        let mut neg = Histogram::<u64>::new(3).unwrap();
        for _ in 0..10_000 {
            let t = Instant::now();
            assert!(index.resolve(&unknown).await.unwrap().is_none());
            neg.record(t.elapsed().as_nanos() as u64).unwrap();
        }
        percentiles(
            &format!("{name}: unknown key, repeated (negative cache)"),
            &neg,
        );

        // Concurrent misses for one key share one lookup.
        let index = Arc::new(KeyIndex::new(store.clone()));
        let key = keys[0].clone();
        let t = Instant::now();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let index = index.clone();
                let key = key.clone();
                tokio::spawn(async move { index.resolve(&key).await.unwrap().is_some() })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
        println!(
            "| {name}: 64 concurrent misses of one key: {:.2} ms in all | | | | |",
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
}

fn criterion_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("crit.db").display());
    let (store, secrets) = rt.block_on(seeded(&url, 1000));
    let key = parsed(&secrets[0]);

    c.bench_function("credential parse (shape, CRC32, SHA-256)", |b| {
        b.iter(|| credential::parse(&secrets[1]))
    });

    let index = KeyIndex::new(store.clone());
    rt.block_on(index.resolve(&key)).unwrap();
    c.bench_function("key resolve, warm", |b| {
        b.to_async(rt).iter(|| index.resolve(&key))
    });

    c.bench_function("key resolve, cold (SQLite)", |b| {
        b.to_async(rt).iter_batched(
            || KeyIndex::new(store.clone()),
            |index| {
                let key = &key;
                async move { index.resolve(key).await.unwrap() }
            },
            BatchSize::SmallInput,
        )
    });

    let (master, _) = MasterKey::generate();
    let tokens = TokenService::new(store.clone(), master);
    // The environment's scope the real way: its secret key resolved.
    let Ok(Caller::Environment(backend)) = rt.block_on(resolve_bearer(&index, &secrets[0])) else {
        panic!("a seeded secret key resolves");
    };
    let scope = &backend.scope;
    let signer = rt.block_on(tokens.signer(scope)).unwrap();
    let now = 1_900_000_000;
    let mint = || {
        tokens
            .mint(
                &signer,
                Mint {
                    key_id: "key_x",
                    user_id: "alice",
                    issued: now * 1_000_000,
                    ttl: 3600,
                    rooms: Default::default(),
                    stored: None,
                },
            )
            .unwrap()
    };
    let token = mint();
    c.bench_function("user token mint (Ed25519 sign)", |b| b.iter(mint));
    rt.block_on(tokens.verify(scope, token.expose(), now))
        .unwrap();
    c.bench_function("user token verify, cached", |b| {
        b.to_async(rt)
            .iter(|| tokens.verify(scope, token.expose(), now))
    });
    c.bench_function("user token verify, uncached (Ed25519)", |b| {
        b.to_async(rt).iter_batched(
            mint,
            |t| {
                let tokens = &tokens;
                async move { tokens.verify(scope, t.expose(), now).await.unwrap() }
            },
            BatchSize::SmallInput,
        )
    });
}

/// Pagination depth and stats cost at scale: 250,000 environments in one
/// account, 1,000,000 comments in one environment.
async fn data_scale() {
    use pulse::domain::page::PageSealer;
    println!("\n| data at scale | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("scale.db").display()
    );
    let mut backends = vec![("SQLite", sqlite)];
    if let Some(url) = fresh_postgres().await {
        backends.push(("PostgreSQL", url));
    }
    for (name, url) in backends {
        let store = Store::connect(&DatabaseSettings::from_url(&url))
            .await
            .unwrap();
        store.prepare().await.unwrap();
        let created = store
            .create_account("scale", &pulse::domain::audit::Actor::local("bench"))
            .await
            .unwrap();
        let account = created.account.id;
        let raw = Database::connect(&url).await.unwrap();
        for chunk in 0..500 {
            let values: Vec<String> = (0..500)
                .map(|i| format!("('env_s{chunk}x{i}', '{account}', 'env {chunk}-{i}', 0, 0)"))
                .collect();
            raw.execute_unprepared(&format!(
                    "INSERT INTO environments (id, account_id, display_name, create_time, update_time) VALUES {}",
                    values.join(",")
                ))
                .await
                .unwrap();
        }
        for chunk in 0..1000 {
            let values: Vec<String> = (0..1000)
                .map(|i| format!("('cm_s{chunk}x{i}', 'env_s0x0', 'th_s', 'u', 'body', 0, NULL)"))
                .collect();
            raw.execute_unprepared(&format!(
                    "INSERT INTO comments (id, environment_id, thread_id, user_id, body, create_time, edit_time) VALUES {}",
                    values.join(",")
                ))
                .await
                .unwrap();
        }
        // The counter the write path maintains (bulk SQL bypassed it).
        raw.execute_unprepared(
            "UPDATE environments SET comment_count = 1000000 WHERE id = 'env_s0x0'",
        )
        .await
        .unwrap();
        // Scopes come the real way: the admin token resolved by the key
        // index, and the environment opened through the admin's account.
        let index = KeyIndex::new(store.clone());
        let Ok(Caller::Admin(admin)) = resolve_bearer(&index, created.token.expose()).await else {
            panic!("the bootstrap admin token resolves");
        };
        let env_id = pulse::domain::ids::EnvironmentId::parse("bench", "env_s0x0").unwrap();
        let scope = admin.open_environment(&store, &env_id).await.unwrap();
        let account_scope = admin.store(&store);
        // Page 1 and page 1,000 (50 per page) of ListEnvironments.
        let pages = PageSealer::new([7; 32]);
        let first = pages.parse(&account, "environments", 50, "").unwrap();
        // The first environment's `seq` (page tokens are keyed by it;
        // records do not carry it).
        let base_seq: i64 = raw
            .query_one_raw(sea_orm::Statement::from_string(
                raw.get_database_backend(),
                "SELECT MIN(seq) FROM environments",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        let base_seq = base_seq - 1;
        let deep_token = first.next_token(base_seq + 999 * 50);
        let deep = pages
            .parse(&account, "environments", 50, &deep_token)
            .unwrap();
        for (label, req) in [
            ("ListEnvironments page 1", first),
            ("ListEnvironments page 1,000", deep),
        ] {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for _ in 0..300 {
                let t = Instant::now();
                let (rows, _) = account_scope.list_environments(&req).await.unwrap();
                assert_eq!(rows.len(), 50);
                h.record(t.elapsed().as_micros() as u64).unwrap();
            }
            println!(
                "| {name}: {label} | {:.2} | {:.2} |",
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0
            );
        }
        let mut h = Histogram::<u64>::new(3).unwrap();
        for _ in 0..30 {
            let t = Instant::now();
            let stats = store.environment(&scope).stats().await.unwrap();
            assert_eq!(stats.comments, 1_000_000);
            h.record(t.elapsed().as_micros() as u64).unwrap();
        }
        println!(
            "| {name}: GetEnvironmentStats, 1,000,000 comments | {:.2} | {:.2} |",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0
        );
    }
}

/// The 1,000 room patterns of the least-privilege measurements (as in
/// examples/load.rs): 599 exact ids and 400 prefixes of varied lengths
/// (prefixes 3–41 characters, 39 distinct lengths), plus `bench-*`.
fn room_claim() -> RoomClaim {
    let mut claim = RoomClaim::new();
    for i in 0..599 {
        let access = if i % 3 == 0 {
            RoomAccess::Write
        } else {
            RoomAccess::Read
        };
        claim.insert(format!("r{i}-{}", "x".repeat(i % 17)), access);
    }
    for i in 0..400 {
        let access = if i % 2 == 0 {
            RoomAccess::Write
        } else {
            RoomAccess::Read
        };
        claim.insert(format!("t{i}-{}*", "p".repeat(i % 37)), access);
    }
    claim.insert("bench-*".into(), RoomAccess::Read);
    assert_eq!(claim.len(), 1000);
    claim
}

/// Room ids to look up in [`room_claim`]'s policy, by kind, each with
/// whether it opens.
fn room_queries() -> Vec<(&'static str, Vec<(String, bool)>)> {
    let exact = (0..599)
        .step_by(7)
        .map(|i| (format!("r{i}-{}", "x".repeat(i % 17)), true))
        .collect();
    // Under a prefix: the id is longer than its prefix, so longer prefix
    // lengths are probed first.
    let prefixed = (0..400)
        .step_by(5)
        .map(|i| (format!("t{i}-{}-room-{i}", "p".repeat(i % 37)), true))
        .chain(std::iter::once(("bench-room-0001".to_owned(), true)))
        .collect();
    let short_misses = (0..50).map(|i| (format!("lobby-{i}"), false)).collect();
    // Misses as long as the longest prefix: every prefix length is probed.
    let long_misses = (0..50)
        .map(|i| (format!("{i:02}-{}", "z".repeat(38)), false))
        .collect();
    vec![
        ("exact id (hit)", exact),
        ("under a prefix (hit)", prefixed),
        ("miss, short id", short_misses),
        (
            "miss, 41-character id (probes all 39 prefix lengths)",
            long_misses,
        ),
    ]
}

/// RPC paths for the restricted-key check: every kind of need (none, a
/// permission held, a permission not held, undeclared).
const PATHS: [&str; 8] = [
    "/pulse.v1.AuthService/WhoAmI",
    "/pulse.v1.ThreadService/ListThreads",
    "/pulse.v1.ThreadService/ListComments",
    "/pulse.v1.ThreadService/CreateComment",
    "/pulse.v1.RoomService/GetRoom",
    "/pulse.v1.AuthService/MintUserToken",
    "/pulse.v1.EnvironmentService/CreateKey",
    "/pulse.v1.Nope/Nothing",
];

/// What the auth layer decides for a restricted key from the path alone.
fn restricted_allows(granted: Permissions, path: &str) -> bool {
    match need_for_path(path) {
        Need::Nothing => true,
        Need::Permission(p) => granted.allows(p),
        Need::Undeclared => false,
    }
}

fn row_ns(label: &str, hist: &Histogram<u64>) {
    println!(
        "| {label} | {} | {:.3} | {:.3} | {:.3} |",
        hist.len(),
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
}

/// Times `f` alone `samples` times over `inputs` (cycled), in ns.
fn time_each<T>(inputs: &[T], samples: usize, mut f: impl FnMut(&T)) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for i in 0..samples {
        let input = &inputs[i % inputs.len()];
        let t = Instant::now();
        f(std::hint::black_box(input));
        hist.record(t.elapsed().as_nanos() as u64).unwrap();
    }
    hist
}

/// Least privilege (issue 12): the restricted-key check and room matching
/// on a 1,000-pattern policy, each call timed alone (the timer's own cost
/// is the first row), plus the remembered-decision lookup a 1,000-pattern
/// token's headers cost in the auth layer.
fn permission_percentiles() {
    const SAMPLES: usize = 200_000;
    println!(
        "\n| least privilege (issue 12), each call timed alone | samples | p50 µs | p99 µs | max µs |"
    );
    println!("|---|---:|---:|---:|---:|");
    let hist = time_each(&[()], SAMPLES, |_| {});
    row_ns("timer alone (included in every row below)", &hist);

    let granted = Permissions::parse("permissions", &["comments.read".to_owned()]).unwrap();
    let hist = time_each(&PATHS, SAMPLES, |path| {
        std::hint::black_box(restricted_allows(granted, path));
    });
    row_ns(
        "rk_ check: need_for_path + Permissions::allows (8 paths)",
        &hist,
    );

    let policy = RoomPolicy::compile(&room_claim()).unwrap();
    let queries = room_queries();
    let mut all = Vec::new();
    for (label, rooms) in &queries {
        for (room, opens) in rooms {
            assert_eq!(policy.access(room).is_some(), *opens, "{room}");
        }
        let hist = time_each(rooms, SAMPLES, |(room, _)| {
            std::hint::black_box(policy.access(room));
        });
        row_ns(
            &format!("RoomPolicy::access, 1,000 patterns: {label}"),
            &hist,
        );
        all.extend(rooms.iter().cloned());
    }
    let hist = time_each(&all, SAMPLES, |(room, _)| {
        std::hint::black_box(policy.access(room));
    });
    row_ns(
        "RoomPolicy::access, 1,000 patterns: all of the above",
        &hist,
    );

    // Beyond the target's shape: 1,000 prefixes over every length 1–128
    // (128 distinct lengths) and a 128-character miss, the most probes a
    // policy can make.
    let stress: RoomClaim = (0..1000)
        .map(|i| {
            let len = 1 + i % 128;
            (format!("{:0>len$}*", format!("p{i}")), RoomAccess::Read)
        })
        .collect();
    let stress = RoomPolicy::compile(&stress).unwrap();
    let misses: Vec<String> = (0..50).map(|i| format!("{i:x<128}")).collect();
    assert!(misses.iter().all(|room| stress.access(room).is_none()));
    let hist = time_each(&misses, SAMPLES, |room| {
        std::hint::black_box(stress.access(room));
    });
    row_ns(
        "RoomPolicy::access, worst case: 128 prefix lengths, 128-character miss",
        &hist,
    );

    // The auth layer remembers a caller's decision by the exact bytes of
    // its headers: a hit hashes them and compares them. A synthetic header
    // as long as a real one of each kind (the content does not matter).
    let claim = serde_json::to_string(&room_claim()).unwrap();
    for (label, len) in [
        ("empty map", 420),
        ("1,000 patterns", 420 + claim.len() * 4 / 3),
    ] {
        let cache: Cache<Box<[u8]>, u64> = Cache::new(4096);
        let headers: Vec<Vec<u8>> = (0..64u8)
            .map(|i| {
                let mut h = vec![b'a' + i % 26; len];
                h[..7].copy_from_slice(b"Bearer ");
                h[len - 1] = i;
                h
            })
            .collect();
        for (i, h) in headers.iter().enumerate() {
            cache.insert(h.clone().into_boxed_slice(), i as u64);
        }
        let hist = time_each(&headers, SAMPLES / 4, |h| {
            std::hint::black_box(cache.get(h.as_slice()).unwrap());
        });
        row_ns(
            &format!("remembered-decision lookup, {label} ({len}-byte header)"),
            &hist,
        );
    }
}

fn permission_benches(c: &mut Criterion) {
    let granted = Permissions::parse("permissions", &["comments.read".to_owned()]).unwrap();
    let mut i = 0;
    c.bench_function("rk_ check (need_for_path + allows)", |b| {
        b.iter(|| {
            i = (i + 1) % PATHS.len();
            restricted_allows(granted, std::hint::black_box(PATHS[i]))
        })
    });
    let policy = RoomPolicy::compile(&room_claim()).unwrap();
    let all: Vec<String> = room_queries()
        .into_iter()
        .flat_map(|(_, rooms)| rooms.into_iter().map(|(room, _)| room))
        .collect();
    let mut i = 0;
    c.bench_function("RoomPolicy::access, 1,000 patterns, mixed", |b| {
        b.iter(|| {
            i = (i + 1) % all.len();
            policy.access(std::hint::black_box(&all[i]))
        })
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let percentiles_only = std::env::args().any(|a| a == "--percentiles-only");
    if !percentiles_only {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c, &rt);
        permission_benches(&mut c);
        c.final_summary();
    }
    permission_percentiles();
    if std::env::args().any(|a| a == "--permissions-only") {
        return;
    }
    let keys = std::env::var("PULSE_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    rt.block_on(percentile_table(keys));
    if std::env::args().any(|a| a == "--data-scale") {
        rt.block_on(data_scale());
    }
}
