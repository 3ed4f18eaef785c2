//! Database faults under load: while the database is gone (PostgreSQL: a
//! cluster this test started itself, `helpers::postgres::Cluster`, stopped
//! hard) or cannot be written (SQLite: its write lock held by another
//! connection), calls fail fast with UNAVAILABLE — never a hang to the
//! deadline, never a panic — health turns NOT_SERVING, and the server
//! recovers by itself when the database is back. Nothing acknowledged is
//! lost and nothing is half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pulse::pb;
use tokio::sync::Mutex;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::{Backend, TestApp, bearer, spawn_app_on};

/// What the load saw.
#[derive(Default)]
struct Outcomes {
    /// Environments whose creation was acknowledged.
    created: Vec<String>,
    /// Status codes of failed calls.
    failures: Vec<Code>,
}

/// Creates environments in a loop until `stop`, each call with a 10 s
/// deadline: a call that hangs would come back DEADLINE_EXCEEDED.
fn start_load(
    app: &TestApp,
    stop: Arc<AtomicBool>,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Outcomes>>) {
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let (addr, token, seen) = (app.addr, app.admin_token.clone(), outcomes.clone());
    let handle = tokio::spawn(async move {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut envs = pb::environment_service_client::EnvironmentServiceClient::new(channel);
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let mut request = bearer(
                pb::CreateEnvironmentRequest {
                    display_name: format!("env {n}"),
                },
                &token,
            );
            request.set_timeout(Duration::from_secs(10));
            match envs.create_environment(request).await {
                Ok(r) => seen
                    .lock()
                    .await
                    .created
                    .push(r.into_inner().environment.unwrap().id),
                Err(status) => seen.lock().await.failures.push(status.code()),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (handle, outcomes)
}

async fn wait_for_health(app: &TestApp, want: ServingStatus, within: Duration) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap()
            .into_inner()
            .status;
        if status == want as i32 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_failures(outcomes: &Mutex<Outcomes>, at_least: usize) {
    for _ in 0..300 {
        if outcomes.lock().await.failures.len() >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the load saw no failures while the database was gone");
}

/// After recovery: every acknowledged environment exists with its two keys
/// (creation is one transaction), and new writes work.
async fn assert_recovered(app: &TestApp, outcomes: &Outcomes) {
    assert!(!outcomes.created.is_empty());
    assert!(
        outcomes.failures.iter().all(|c| *c == Code::Unavailable),
        "failures must be UNAVAILABLE, fast: {:?}",
        outcomes.failures
    );
    for id in &outcomes.created {
        let keys = app.list_keys(id).await;
        assert_eq!(keys.len(), 2, "environment {id} half-written");
    }
    app.create_environment("after the outage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pulse_no_postgres,
    ignore = "no PostgreSQL installed or reachable (build.rs)"
)]
async fn postgres_killed_mid_load_then_restarted() {
    let cluster =
        crate::helpers::postgres::Cluster::init().expect("a PostgreSQL cluster of our own");
    let app = spawn_app_on(Backend::Postgres, cluster.url()).await;
    assert!(!app.admin_token.is_empty());
    let stop = Arc::new(AtomicBool::new(false));
    let (load, outcomes) = start_load(&app, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    cluster.kill().expect("stop PostgreSQL");
    wait_for_failures(&outcomes, 5).await;
    wait_for_health(&app, ServingStatus::NotServing, Duration::from_secs(10)).await;

    cluster.start().expect("restart PostgreSQL");
    wait_for_health(&app, ServingStatus::Serving, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let outcomes = outcomes.lock().await;
    assert_recovered(&app, &outcomes).await;
}

/// SQLite's write lock held by another connection, as a backup tool or a
/// forgotten `sqlite3` shell would hold it: the file cannot be written.
/// (As root, file permissions do not stop writes, and a file system with
/// files open for writing cannot be remounted read-only; a held write lock
/// is the "cannot write" we can cause for real.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_lock_held_mid_load_then_released() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let (url, _dir) = crate::helpers::fresh_database(Backend::Sqlite).await;
    let app = spawn_app_on(Backend::Sqlite, url.clone()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (load, outcomes) = start_load(&app, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let intruder = sea_orm::Database::connect(&url).await.unwrap();
    let lock = intruder.begin().await.unwrap();
    lock.execute_unprepared("INSERT OR REPLACE INTO pulse_heartbeat (id, beat) VALUES (2, 0)")
        .await
        .unwrap();
    wait_for_failures(&outcomes, 5).await;
    wait_for_health(&app, ServingStatus::NotServing, Duration::from_secs(10)).await;

    lock.rollback().await.unwrap();
    wait_for_health(&app, ServingStatus::Serving, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let outcomes = outcomes.lock().await;
    assert_recovered(&app, &outcomes).await;
}
