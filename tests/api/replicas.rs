//! Three `pulse serve` processes on one PostgreSQL database agree on
//! revocation: once `RotateKeys` returns on one replica, no replica accepts
//! the old key; once `RevokeUserTokens` (or its admin twin) returns on one
//! replica, no replica accepts a token of that user minted before it, and a
//! token minted right after it works everywhere — also while their listener
//! connections are being killed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;
use tonic::Code;

use crate::helpers::{ServeProcess, fresh_database, spawn_process};

#[path = "../../examples/common/replicas.rs"]
mod harness;
use harness::{Replicas, kill_listeners, who_am_i, who_am_i_user};

const ROTATIONS: usize = 200;

/// The current secret key, and when the rotation that made the previous one
/// obsolete returned.
#[derive(Clone)]
struct Current {
    generation: usize,
    sk: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_three_replicas_never_accept_a_rotated_key() {
    let (url, _) = fresh_database(crate::helpers::Backend::Postgres).await;
    let first = spawn_process(&url, &[]);
    let admin = first.bootstrap_token();
    // Two more replicas start together on the migrated database.
    let (second, third) = (spawn_process(&url, &[]), spawn_process(&url, &[]));
    let processes: Vec<ServeProcess> = vec![first, second, third];
    let replicas = Replicas::connect(processes.iter().map(|p| p.addr), &admin, 1).await;

    let created = replicas.create_environment("Production").await.unwrap();
    let env_id = created.environment.unwrap().id;
    let (tx, rx) = watch::channel(Current {
        generation: 0,
        sk: created.secret_key,
    });
    // generation → when the rotation that killed it returned.
    let killed_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; ROTATIONS + 1]));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));

    // Steady load on every replica, 4 callers each.
    let mut loaders = Vec::new();
    for r in 0..replicas.count() {
        for _ in 0..4 {
            let channel = replicas.channel(r);
            let rx = rx.clone();
            let killed_at = killed_at.clone();
            let violations = violations.clone();
            let calls = calls.clone();
            loaders.push(tokio::spawn(async move {
                loop {
                    let current = rx.borrow().clone();
                    if current.generation == usize::MAX {
                        break;
                    }
                    let start = Instant::now();
                    let result = who_am_i(channel.clone(), &current.sk).await;
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let dead_since = killed_at.lock().unwrap()[current.generation];
                    if result.is_ok() && dead_since.is_some_and(|t| start > t) {
                        violations.lock().unwrap().push(format!(
                            "replica {r} accepted generation {} after its rotation returned",
                            current.generation
                        ));
                    }
                }
            }));
        }
    }

    let mut listeners_killed = 0;
    for generation in 0..ROTATIONS {
        if generation % 50 == 25 {
            listeners_killed += kill_listeners(&url).await;
        }
        let old = rx.borrow().sk.clone();
        // Rotate through a different replica each time.
        let rotated = replicas.rotate_via(generation % 3, &env_id).await.unwrap();
        killed_at.lock().unwrap()[generation] = Some(Instant::now());
        // Probe every replica with the old key at once, before anyone moves on.
        for r in 0..replicas.count() {
            let status = replicas.who_am_i(r, &old).await;
            if !matches!(&status, Err(s) if s.code() == Code::Unauthenticated) {
                violations.lock().unwrap().push(format!(
                    "probe: replica {r} accepted generation {generation}: {status:?}"
                ));
            }
        }
        tx.send(Current {
            generation: generation + 1,
            sk: rotated,
        })
        .unwrap();
        // Let the loaders warm every replica's cache with the new key.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tx.send(Current {
        generation: usize::MAX,
        sk: String::new(),
    })
    .unwrap();
    for l in loaders {
        l.await.unwrap();
    }
    let violations = violations.lock().unwrap();
    assert!(
        violations.is_empty(),
        "{} violations, e.g. {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
    assert!(
        listeners_killed >= 3,
        "the listener connections were killed mid-test ({listeners_killed})"
    );
    let calls = calls.load(std::sync::atomic::Ordering::Relaxed);
    assert!(calls > 1000, "steady load ran ({calls} calls)");
    eprintln!(
        "{ROTATIONS} rotations, {calls} calls, {listeners_killed} listener connections killed, 0 violations"
    );
}

const USER_REVOCATIONS: usize = 100;
/// Users whose tokens the load carries; the revocations take them in turn,
/// so each user's tokens are revoked again a few revocations later (often
/// within the same second).
const USERS: [&str; 2] = ["alice", "bob"];

/// A user token the loaders call with; `id` indexes [`TokenTimeline`]s.
struct LiveToken {
    id: usize,
    user_id: String,
    token: String,
}

/// The token the loaders use for each user (`None`: stop).
type LiveTokens = Option<Arc<Vec<Arc<LiveToken>>>>;

/// When the revocation that kills a token was issued, and when it returned.
#[derive(Clone, Copy, Default)]
struct TokenTimeline {
    revoking: Option<Instant>,
    revoked: Option<Instant>,
}

/// A user token's `iat` claim (for the failure messages); -1 if unreadable.
fn token_iat(token: &str) -> i64 {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|claims| claims["iat"].as_i64())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_three_replicas_never_accept_a_revoked_user_token() {
    let started = Instant::now();
    let (url, _) = fresh_database(crate::helpers::Backend::Postgres).await;
    let first = spawn_process(&url, &[]);
    let admin = first.bootstrap_token();
    let (second, third) = (spawn_process(&url, &[]), spawn_process(&url, &[]));
    let processes: Vec<ServeProcess> = vec![first, second, third];
    let replicas = Replicas::connect(processes.iter().map(|p| p.addr), &admin, 1).await;

    let created = replicas.create_environment("Production").await.unwrap();
    let env_id = created.environment.unwrap().id;
    let sk = created.secret_key;
    let pk = created.publishable_key.unwrap().value;

    let timelines = Arc::new(Mutex::new(Vec::<TokenTimeline>::new()));
    let mut current = Vec::new();
    for (id, user_id) in USERS.iter().enumerate() {
        let token = replicas
            .mint_user_token_via(id, &sk, user_id)
            .await
            .unwrap();
        timelines.lock().unwrap().push(TokenTimeline::default());
        current.push(Arc::new(LiveToken {
            id,
            user_id: (*user_id).to_owned(),
            token,
        }));
    }
    let (tx, rx) = watch::channel::<LiveTokens>(Some(Arc::new(current.clone())));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = Arc::new(AtomicU64::new(0));
    // Loader calls started after their token's revocation returned.
    let calls_after_return = Arc::new(AtomicU64::new(0));

    // Steady load on every replica, 4 callers each, every user in turn.
    let mut loaders = Vec::new();
    for r in 0..replicas.count() {
        for caller in 0..4 {
            let (channel, pk, rx) = (replicas.channel(r), pk.clone(), rx.clone());
            let (timelines, violations) = (timelines.clone(), violations.clone());
            let (calls, calls_after_return) = (calls.clone(), calls_after_return.clone());
            loaders.push(tokio::spawn(async move {
                for n in caller.. {
                    let Some(tokens) = rx.borrow().clone() else {
                        break;
                    };
                    let live = tokens[n % tokens.len()].clone();
                    let start = Instant::now();
                    let result = who_am_i_user(channel.clone(), &pk, &live.token).await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    let timeline = timelines.lock().unwrap()[live.id];
                    let dead = timeline.revoked.is_some_and(|t| start > t);
                    if dead {
                        calls_after_return.fetch_add(1, Ordering::Relaxed);
                    }
                    let problem = match &result {
                        Ok(_) if dead => Some("accepted it after its revocation returned".into()),
                        Ok(me) if me.user_id != live.user_id => {
                            Some(format!("answered for user {:?}", me.user_id))
                        }
                        Err(s) if timeline.revoking.is_none() => {
                            Some(format!("refused it before its revocation began: {s:?}"))
                        }
                        Err(s) if s.code() != Code::Unauthenticated => {
                            Some(format!("failed: {s:?}"))
                        }
                        _ => None,
                    };
                    if let Some(problem) = problem {
                        let mut violations = violations.lock().unwrap();
                        violations.push(format!(
                            "load: replica {r}, token #{} of {}: {problem}",
                            live.id, live.user_id
                        ));
                        // Enough to fail; an unbounded list (a server gone
                        // wrong, answering at once) would eat the machine.
                        if violations.len() >= 10_000 {
                            break;
                        }
                    }
                }
            }));
        }
    }

    let (mut probes, mut fresh_checks, mut listeners_killed) = (0, 0, 0);
    for i in 0..USER_REVOCATIONS {
        if i % 50 == 25 {
            listeners_killed += kill_listeners(&url).await;
        }
        let slot = i % current.len();
        let old = current[slot].clone();
        let user_id = old.user_id.as_str();
        // Through a different replica each time; RevokeUserTokens with the
        // secret key and RevokeEnvironmentUserTokens with the admin token
        // in turn.
        let via = i % replicas.count();
        timelines.lock().unwrap()[old.id].revoking = Some(Instant::now());
        let revocation = if i % 2 == 0 {
            replicas.revoke_user_tokens_via(via, &sk, user_id).await
        } else {
            replicas
                .revoke_environment_user_tokens_via(via, &env_id, user_id)
                .await
        }
        .unwrap_or_else(|s| panic!("revocation {i} via replica {via}: {s:?}"));
        timelines.lock().unwrap()[old.id].revoked = Some(Instant::now());
        assert_eq!(revocation.user_id, user_id);
        let not_before = revocation.not_before.map_or(-1, |t| t.seconds);
        // Probe every replica with the old token, before anyone moves on.
        for r in 0..replicas.count() {
            let status = replicas.who_am_i_user(r, &pk, &old.token).await;
            probes += 1;
            if !matches!(&status, Err(s) if s.code() == Code::Unauthenticated) {
                let iat = token_iat(&old.token);
                // A token minted before the revocation, yet not under its
                // line: the line was not drawn after every earlier token.
                let uncovered = if iat >= not_before {
                    " — iat is not before the revocation's line"
                } else {
                    ""
                };
                violations.lock().unwrap().push(format!(
                    "probe: replica {r} accepted token #{} of {user_id} (iat {iat}) after \
                     revocation {i} via replica {via} returned (not_before {not_before}){uncovered}: \
                     {status:?}",
                    old.id,
                ));
            }
        }
        // A token minted right after, on another replica, works everywhere.
        let minted_on = (via + 1) % replicas.count();
        let token = replicas
            .mint_user_token_via(minted_on, &sk, user_id)
            .await
            .unwrap_or_else(|s| panic!("mint after revocation {i} on replica {minted_on}: {s:?}"));
        for r in 0..replicas.count() {
            let status = replicas.who_am_i_user(r, &pk, &token).await;
            fresh_checks += 1;
            if !matches!(&status, Ok(me) if me.user_id == user_id) {
                violations.lock().unwrap().push(format!(
                    "fresh: replica {r} refused a token of {user_id} (iat {}) minted on replica \
                     {minted_on} after revocation {i} (not_before {not_before}): {status:?}",
                    token_iat(&token)
                ));
            }
        }
        let id = {
            let mut timelines = timelines.lock().unwrap();
            timelines.push(TokenTimeline::default());
            timelines.len() - 1
        };
        current[slot] = Arc::new(LiveToken {
            id,
            user_id: user_id.to_owned(),
            token,
        });
        tx.send(Some(Arc::new(current.clone()))).unwrap();
        // Let the loaders warm every replica's cache with the new token.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tx.send(None).unwrap();
    for l in loaders {
        l.await.unwrap();
    }
    let violations = violations.lock().unwrap();
    // By kind (probe, fresh, load), a few of each.
    let kinds: Vec<(&str, Vec<&String>)> = ["probe:", "fresh:", "load:"]
        .into_iter()
        .map(|kind| {
            (
                kind,
                violations.iter().filter(|v| v.starts_with(kind)).collect(),
            )
        })
        .collect();
    assert!(
        violations.is_empty(),
        "{} violations ({}), e.g. {:#?}",
        violations.len(),
        kinds
            .iter()
            .map(|(kind, all)| format!("{kind} {}", all.len()))
            .collect::<Vec<_>>()
            .join(", "),
        kinds
            .iter()
            .flat_map(|(_, all)| all.iter().take(3))
            .collect::<Vec<_>>()
    );
    assert!(
        listeners_killed >= 3,
        "the listener connections were killed mid-test ({listeners_killed})"
    );
    let calls = calls.load(Ordering::Relaxed);
    let calls_after_return = calls_after_return.load(Ordering::Relaxed);
    assert!(calls > 1000, "steady load ran ({calls} calls)");
    assert!(
        calls_after_return > 0,
        "the load used revoked tokens after their revocations returned"
    );
    eprintln!(
        "{USER_REVOCATIONS} user-token revocations, {calls} calls ({calls_after_return} with a \
         token whose revocation had returned), {probes} probes of old tokens, {fresh_checks} \
         checks of fresh tokens, {listeners_killed} listener connections killed, 0 acceptances \
         after return, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
