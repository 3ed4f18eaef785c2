//! Test databases (a SQLite file or a fresh PostgreSQL database per test)
//! and the few checks tests make on the database directly. This is the
//! only place the tests touch `pulse::store`: each store internal a test
//! needs goes through one function here, on a connection of its own.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::sync::OnceCell;

use super::Backend;

/// Base URL of the PostgreSQL server for tests (see `super::postgres`).
pub fn postgres_base_url() -> String {
    super::postgres::base_url()
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
                        // Names are `pulse_t_<pid>_…`: another test process
                        // that is still running keeps its databases.
                        let owner = name["pulse_t_".len()..].split('_').next();
                        let alive =
                            owner
                                .and_then(|pid| pid.parse::<u32>().ok())
                                .is_some_and(|pid| {
                                    pid != std::process::id()
                                        && std::path::Path::new(&format!("/proc/{pid}")).exists()
                                });
                        if alive {
                            continue;
                        }
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

/// A connection of the test's own to the database at `url` (not the
/// server's pools).
pub async fn connect(url: &str) -> DatabaseConnection {
    Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("open the test database {url}: {e}"))
}

/// The single `i64` column `n` of a raw SQL query, e.g.
/// `SELECT COUNT(*) AS n FROM environments`, on a connection of its own.
pub async fn query_count(url: &str, sql: &str) -> i64 {
    let db = connect(url).await;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get("", "n").expect("column n")
}

/// How many accounts the database holds.
pub async fn count_accounts(url: &str) -> u64 {
    pulse::store::Store::connect(&pulse::config::DatabaseSettings::from_url(url))
        .await
        .expect("open the test database")
        .count_accounts()
        .await
        .expect("count accounts")
}

/// A second account, created in the database as `pulse account create`
/// does, by `actor`; returns its admin token.
pub async fn create_account(url: &str, name: &str, actor: &str) -> String {
    let store = pulse::store::Store::connect(&pulse::config::DatabaseSettings::from_url(url))
        .await
        .expect("open the test database");
    let actor = pulse::domain::audit::Actor::local(actor);
    let created = store
        .create_account(name, &actor)
        .await
        .expect("create account");
    created.token.expose().to_owned()
}

/// What one `pulse serve` start does to the database before serving:
/// connect, migrate and bootstrap. `Ok(true)` when this start created the
/// default account; the error says which step failed.
pub async fn prepare_database(url: &str) -> Result<bool, String> {
    let store = pulse::store::Store::connect(&pulse::config::DatabaseSettings::from_url(url))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    Ok(store
        .prepare()
        .await
        .map_err(|e| format!("prepare: {e}"))?
        .is_some())
}
