//! Three `pulse serve` processes on one PostgreSQL database agree on
//! revocation: once `RotateKeys` returns on one replica, no replica accepts
//! the old key — also while their listener connections are being killed.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;
use tonic::Code;

use crate::helpers::{ServeProcess, fresh_database, skip_postgres, spawn_process};

#[path = "../../examples/common/replicas.rs"]
mod harness;
use harness::{Replicas, kill_listeners, who_am_i};

const ROTATIONS: usize = 200;

/// The current secret key, and when the rotation that made the previous one
/// obsolete returned.
#[derive(Clone)]
struct Current {
    generation: usize,
    sk: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_replicas_never_accept_a_rotated_key() {
    if skip_postgres() {
        return;
    }
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
