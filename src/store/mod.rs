//! Storage: sea-orm entities, migrations and tenant-scoped queries.
//!
//! Tenant data is reached only through the handles [`Store::account`] and
//! [`Store::environment`] (see [`tenant`]), which take a scope that only
//! `crate::auth` can build. The connection pools are private to this
//! module: nothing outside `store` can run a query of its own.
//!
//! ```compile_fail
//! // Outside the store there is no way to a connection.
//! async fn raw(store: &pulse::store::Store) {
//!     let _ = store.read;
//! }
//! ```
//!
//! SQLite has one writer even in WAL mode, and a deferred transaction that
//! upgrades from read to write fails with BUSY at once whatever the busy
//! timeout. So on SQLite every write goes through a pool of exactly one
//! connection, and reads use a separate pool. On PostgreSQL both are the
//! same pool.

pub mod accounts;
pub mod audit;
mod counters;
pub mod credentials;
pub mod entity;
pub mod environments;
pub mod expiry;
pub mod key_usage;
pub mod keys;
pub mod members;
pub mod migration;
mod paging;
pub mod revocation;
pub mod rooms;
mod schema;
pub mod signing_keys;
pub mod tenant;
pub mod threads;
pub mod user_tokens;
pub mod users;
pub mod write;

pub use revocation::{Announcer, Enforcer, Revocation};
pub use tenant::{AccountStore, EnvironmentStore};
pub use write::{Op, Outcome, Revoked, WriteObserver};

/// One page of rows and the token of the next page (empty at the end).
pub type Page<T> = (Vec<T>, String);

use std::sync::Arc;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::config::DatabaseSettings;
use crate::error::{Error, Result};

/// How long a request waits for a pooled connection before failing with
/// UNAVAILABLE.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection pool's size, for metrics.
#[derive(Clone, Copy, Debug)]
pub struct PoolStats {
    /// `main` (PostgreSQL), or `read` / `write` (SQLite).
    pub pool: &'static str,
    /// Connections open.
    pub open: u32,
    /// Of which idle.
    pub idle: u32,
    /// The most it may open.
    pub max: u32,
}

/// Handle to the database: a read pool and a write pool.
#[derive(Clone, Debug)]
pub struct Store {
    /// Pool for reads.
    read: DatabaseConnection,
    /// Pool for writes; one connection on SQLite.
    write: DatabaseConnection,
    /// Which database we talk to.
    backend: DbBackend,
    /// Announces revocations to other replicas (see [`revocation`]).
    announcer: Option<Arc<dyn Announcer>>,
    /// Told each write's latency and outcome (metrics).
    observer: Option<Arc<dyn WriteObserver>>,
}

impl Store {
    /// Opens the pools described by `settings`. Creates the SQLite file if missing.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self> {
        let url = settings.url.as_str();
        if settings.url.is_postgres() {
            let pool = Database::connect(options(url, settings.max_connections)).await?;
            return Ok(Self {
                read: pool.clone(),
                write: pool,
                backend: DbBackend::Postgres,
                announcer: None,
                observer: None,
            });
        }
        if settings.url.sqlite_file().is_none() {
            // An in-memory database exists per connection: one pool of one.
            let pool = Database::connect(options(url, 1)).await?;
            return Ok(Self {
                read: pool.clone(),
                write: pool,
                backend: DbBackend::Sqlite,
                announcer: None,
                observer: None,
            });
        }
        // Opening sets WAL mode, which needs the file's lock for a moment:
        // another process starting at the same time may hold it.
        let write = startup_retry(true, || async {
            Ok(Database::connect(options(url, 1)).await?)
        })
        .await?;
        let read = startup_retry(true, || async {
            Ok(Database::connect(options(url, settings.max_connections)).await?)
        })
        .await?;
        Ok(Self {
            read,
            write,
            backend: DbBackend::Sqlite,
            announcer: None,
            observer: None,
        })
    }

    /// The same store, announcing its revocations through `announcer`
    /// (the cluster, on PostgreSQL).
    pub fn with_announcer(mut self, announcer: Arc<dyn Announcer>) -> Self {
        self.announcer = Some(announcer);
        self
    }

    /// The same store, telling `observer` each write's latency and outcome.
    pub fn with_observer(mut self, observer: Arc<dyn WriteObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.read.ping().await?)
    }

    /// Sizes of the connection pools, for metrics.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let of = |pool: &'static str, db: &DatabaseConnection| -> Option<PoolStats> {
            let (open, idle, max) = match self.backend {
                DbBackend::Postgres => {
                    let p = db.get_postgres_connection_pool();
                    (p.size(), p.num_idle(), p.options().get_max_connections())
                }
                _ => {
                    let p = db.get_sqlite_connection_pool();
                    (p.size(), p.num_idle(), p.options().get_max_connections())
                }
            };
            Some(PoolStats {
                pool,
                open,
                idle: u32::try_from(idle).ok()?,
                max,
            })
        };
        match self.backend {
            DbBackend::Postgres => of("main", &self.write).into_iter().collect(),
            _ => [of("read", &self.read), of("write", &self.write)]
                .into_iter()
                .flatten()
                .collect(),
        }
    }

    /// Whether the database can take writes now, for health. PostgreSQL: a
    /// round trip (a server that answers takes writes, or says why). SQLite:
    /// a real one-row write, because a file that can no longer be written
    /// (disk full, I/O error) still answers reads.
    pub async fn probe(&self) -> Result<()> {
        if self.backend != DbBackend::Sqlite {
            return self.ping().await;
        }
        self.write
            .execute_unprepared(&format!(
                "INSERT OR REPLACE INTO pulse_heartbeat (id, beat) VALUES (1, {})",
                crate::domain::time::now_micros()
            ))
            .await?;
        Ok(())
    }

    /// The database backend.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }
}

/// How long start-up waits for a SQLite file that other processes keep
/// locked (their migrations, a long write) before giving up.
const STARTUP_WAIT: Duration = Duration::from_secs(120);

/// Runs a start-up step (open, migrate, bootstrap), retrying while SQLite
/// answers "busy"/"locked" (UNAVAILABLE here): several `pulse serve`
/// starting at once on one file take turns instead of failing when one
/// holds the lock longer than the busy timeout. Each try is a whole
/// transaction, so a retry never sees half of another's work. PostgreSQL
/// waits on its advisory lock instead (`retry` false).
async fn startup_retry<T, F, Fut>(retry: bool, mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
    let mut delay = Duration::from_millis(20);
    loop {
        match step().await {
            Err(Error::Unavailable(detail))
                if retry && tokio::time::Instant::now() + delay < deadline =>
            {
                tracing::debug!(error = %detail, "database busy at start-up; retrying");
                // Jitter so that racing starts do not retry in lockstep.
                let jitter = Duration::from_millis(u64::from(
                    crate::domain::ids::random_bytes::<1>()[0] % 32,
                ));
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

fn options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections.max(1))
        .min_connections(0)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Statements are logged by sea-orm at INFO by default: far too
        // costly per request, and noisy. Off; our own spans say enough.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    opts
}
