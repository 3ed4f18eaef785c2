//! Storage: sea-orm entities, migrations and tenant-scoped queries.
//!
//! SQLite has one writer even in WAL mode, and a deferred transaction that
//! upgrades from read to write fails with BUSY at once whatever the busy
//! timeout. So on SQLite every write goes through a pool of exactly one
//! connection, and reads use a separate pool. On PostgreSQL both are the
//! same pool.

pub mod accounts;
pub mod credentials;
pub mod entity;
pub mod environments;
pub mod keys;
pub mod migration;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use sea_orm_migration::MigratorTrait;

use crate::config::DatabaseSettings;
use crate::error::{Error, Result};
use migration::Migrator;

/// Advisory lock id that serialises migrations and bootstrap across
/// replicas on one PostgreSQL database ("pulse" in ASCII).
const MIGRATION_LOCK_ID: i64 = 0x70_75_6c_73_65;

/// How long a request waits for a pooled connection before failing with
/// UNAVAILABLE.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Handle to the database: a read pool and a write pool.
#[derive(Clone, Debug)]
pub struct Store {
    /// Pool for reads.
    read: DatabaseConnection,
    /// Pool for writes; one connection on SQLite.
    write: DatabaseConnection,
    /// Which database we talk to.
    backend: DbBackend,
}

impl Store {
    /// Opens the pools described by `settings`. Creates the SQLite file if missing.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self> {
        let url = settings.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // At least two: the migration lock holds one while work uses another.
            let pool = Database::connect(options(url, settings.max_connections.max(2))).await?;
            return Ok(Self {
                read: pool.clone(),
                write: pool,
                backend: DbBackend::Postgres,
            });
        }
        if !url.starts_with("sqlite:") {
            return Err(Error::internal(
                "database url must start with sqlite: or postgres://",
            ));
        }
        if url.contains(":memory:") {
            // An in-memory database exists per connection: one pool of one.
            let pool = Database::connect(options(url, 1)).await?;
            return Ok(Self {
                read: pool.clone(),
                write: pool,
                backend: DbBackend::Sqlite,
            });
        }
        let write = Database::connect(options(url, 1)).await?;
        let read = Database::connect(options(url, settings.max_connections)).await?;
        Ok(Self {
            read,
            write,
            backend: DbBackend::Sqlite,
        })
    }

    /// The database backend.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Pool for reads.
    pub(crate) fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    /// Pool for writes.
    pub(crate) fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// Applies pending migrations, then creates the "default" account if the
    /// database has none. On PostgreSQL both run under an advisory lock, so
    /// replicas starting together migrate and bootstrap exactly once.
    /// Returns the new admin token when an account was created.
    pub async fn prepare(&self) -> Result<Option<accounts::NewAccount>> {
        self.with_migration_lock(async {
            Migrator::up(self.writer(), None).await?;
            if accounts::count(self).await? > 0 {
                return Ok(None);
            }
            accounts::create_account(self, "default").await.map(Some)
        })
        .await
    }

    /// Applies pending migrations (under the lock on PostgreSQL).
    pub async fn migrate(&self) -> Result<()> {
        self.with_migration_lock(async { Ok(Migrator::up(self.writer(), None).await?) })
            .await
    }

    async fn with_migration_lock<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if self.backend != DbBackend::Postgres {
            return work.await;
        }
        // Session-level advisory locks belong to one connection: hold a
        // dedicated transaction's xact lock for the duration of `work`.
        let lock_tx = sea_orm::TransactionTrait::begin(&self.write).await?;
        lock_tx
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"),
            ))
            .await?;
        let result = work.await;
        lock_tx.commit().await?;
        result
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
