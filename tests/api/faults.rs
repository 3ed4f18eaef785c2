//! Database faults under load: while the database is gone (PostgreSQL: a
//! cluster this test started itself, stopped hard) or cannot be written
//! (SQLite: its write lock held by another connection), calls fail fast with UNAVAILABLE — never a
//! hang to the deadline, never a panic — health turns NOT_SERVING, and the
//! server recovers by itself when the database is back. Nothing
//! acknowledged is lost and nothing is half-written.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pulse::pb;
use tokio::sync::Mutex;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::{Backend, TestApp, bearer, spawn_app_on};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

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

/// A PostgreSQL cluster of the test's own, on a spare port.
struct OwnPostgres {
    dir: PathBuf,
    port: u16,
    _root: tempfile::TempDir,
}

impl OwnPostgres {
    fn init() -> Self {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        // PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
        run(
            "chown",
            &["-R", "postgres:postgres", root.path().to_str().unwrap()],
        );
        run("chmod", &["755", root.path().to_str().unwrap()]);
        as_postgres(
            "initdb",
            &[
                "-D",
                dir.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            dir,
            port,
            _root: root,
        };
        cluster.start();
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.dir.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-l",
                self.log().to_str().unwrap(),
                "start",
            ],
        );
    }

    /// Stops hard, as a crash would (no shutdown checkpoint).
    fn kill(&self) {
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.dir.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn log(&self) -> PathBuf {
        self.dir.parent().unwrap().join("postgres.log")
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                self.dir.to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn as_postgres(tool: &str, args: &[&str]) {
    let tool = format!("{PG_BIN}/{tool}");
    let mut all = vec!["-u", "postgres", "--", tool.as_str()];
    all.extend_from_slice(args);
    run("runuser", &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_mid_load_then_restarted() {
    if crate::helpers::skip_postgres() {
        return;
    }
    let cluster = OwnPostgres::init();
    let app = spawn_app_on(Backend::Postgres, cluster.url()).await;
    assert!(!app.admin_token.is_empty());
    let stop = Arc::new(AtomicBool::new(false));
    let (load, outcomes) = start_load(&app, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    cluster.kill();
    wait_for_failures(&outcomes, 5).await;
    wait_for_health(&app, ServingStatus::NotServing, Duration::from_secs(10)).await;

    cluster.start();
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
