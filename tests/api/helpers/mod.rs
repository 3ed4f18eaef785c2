//! `spawn_app()`: a real server on 127.0.0.1:0 with a fresh database, and
//! real tonic clients to talk to it.
//!
//! Every database test runs on SQLite (a file in a temporary directory) and
//! on PostgreSQL (a fresh database per test, created in the server named by
//! `PULSE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`,
//! or, when nothing answers there, in a throwaway cluster the test process
//! starts from the installed binaries: see `postgres.rs`). Where no
//! PostgreSQL is installed and none answered when the tests were built,
//! the PostgreSQL tests are compiled as ignored (`cfg(pulse_no_postgres)`,
//! set by `build.rs`), so the summary says so; CI sets
//! `PULSE_REQUIRE_POSTGRES=1`, which makes that a build error. Nothing is
//! skipped silently. Server logs stay silent unless `TEST_LOG` is set.

use std::net::SocketAddr;
use std::time::Duration;

use pulse::config::{DatabaseSettings, ServeSettings};
use pulse::pb;
use pulse::server::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

mod client;
mod database;
pub mod postgres;
mod postgres_probe;
mod process;
mod seed;

#[allow(unused_imports)] // escape hatches for requests with unusual metadata
pub use client::{Client, Credential, bearer, frontend, lazy_channel};
pub use database::{
    connect, count_accounts, drop_postgres_database, fresh_database, prepare_database, query_count,
};
pub use process::{ServeProcess, grpcurl, spawn_process};
pub use seed::{Env, environment, mint, seed_thread};

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
                #[cfg_attr(pulse_no_postgres, ignore = "no PostgreSQL installed or reachable (build.rs)")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
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
            url: url.parse().expect("a database url"),
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

    /// A handle calling with `credential`, on a connection of its own.
    pub fn client(&self, credential: Credential) -> Client {
        Client::new(lazy_channel(self.addr), credential)
    }

    /// A handle calling with the bootstrap account's admin token.
    pub fn as_admin(&self) -> Client {
        self.as_admin_token(&self.admin_token)
    }

    /// A handle calling with an admin token (`Bearer`).
    pub fn as_admin_token(&self, token: &str) -> Client {
        self.client(Credential::bearer(token))
    }

    /// A handle calling with an environment's secret key (`Bearer`).
    pub fn as_secret(&self, sk: &str) -> Client {
        self.client(Credential::bearer(sk))
    }

    /// A handle calling as a frontend: a publishable key and, optionally,
    /// a user token.
    pub fn as_frontend(&self, pk: &str, user_token: Option<&str>) -> Client {
        self.client(Credential::frontend(pk, user_token))
    }

    /// A handle calling without any credential.
    pub fn as_anonymous(&self) -> Client {
        self.client(Credential::None)
    }

    /// Creates an environment with the bootstrap admin token.
    pub async fn create_environment(&self, name: &str) -> pb::CreateEnvironmentResponse {
        self.as_admin()
            .create_environment(name)
            .await
            .expect("create environment")
    }

    /// Every key of an environment (one page; tests stay under 50).
    pub async fn list_keys(&self, environment_id: &str) -> Vec<pb::ApiKey> {
        self.as_admin()
            .list_keys(environment_id)
            .await
            .expect("list keys")
            .keys
    }

    /// A second account, created in the database as `pulse account create`
    /// does; returns its admin token.
    pub async fn create_account(&self, name: &str, actor: &str) -> String {
        database::create_account(&self.database_url, name, actor).await
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

/// Polls `check` until it returns `Some`, for at most `within`, and returns
/// that; panics naming `what` when time runs out. For waiting on work done
/// in the background (a flush, a listener, a child process) without
/// sleeping a fixed time that is too long on a fast machine and too short
/// on a loaded one.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
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
