//! Start-up: migrations and the bootstrap account, once per database
//! however many replicas start together.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, TransactionTrait};
use sea_orm_migration::MigratorTrait;

use super::accounts;
use super::migration::Migrator;
use super::{Store, startup_retry};
use crate::error::Result;

/// Advisory lock id that serialises migrations and bootstrap across
/// replicas on one PostgreSQL database ("pulse" in ASCII).
const MIGRATION_LOCK_ID: i64 = 0x70_75_6c_73_65;

impl Store {
    /// Applies pending migrations, then creates the "default" account if the
    /// database has none — both in one transaction that holds the migration
    /// lock, so replicas starting together migrate and bootstrap exactly
    /// once. Returns the new admin token when an account was created.
    pub async fn prepare(&self) -> Result<Option<accounts::NewAccount>> {
        startup_retry(self.backend == DbBackend::Sqlite, || self.prepare_once()).await
    }

    async fn prepare_once(&self) -> Result<Option<accounts::NewAccount>> {
        let tx = self.lock_for_migration().await?;
        Migrator::up(&tx, None).await?;
        let created = if accounts::count(&tx).await? == 0 {
            let actor = crate::domain::audit::Actor::local("bootstrap");
            Some(accounts::create_account_in(&tx, "default", &actor).await?)
        } else {
            None
        };
        self.unlock_migration(&tx).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Applies pending migrations under the migration lock.
    pub async fn migrate(&self) -> Result<()> {
        startup_retry(self.backend == DbBackend::Sqlite, || self.migrate_once()).await
    }

    async fn migrate_once(&self) -> Result<()> {
        let tx = self.lock_for_migration().await?;
        Migrator::up(&tx, None).await?;
        self.unlock_migration(&tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Begins a transaction that holds the migration lock until it ends.
    ///
    /// PostgreSQL: a transaction-scoped advisory lock. SQLite: the write
    /// lock, taken by making the transaction's first statement a write (a
    /// deferred transaction that reads first could not upgrade later).
    async fn lock_for_migration(&self) -> Result<DatabaseTransaction> {
        if self.backend == DbBackend::Sqlite {
            self.write
                .execute_unprepared("CREATE TABLE IF NOT EXISTS pulse_migration_lock (id INTEGER)")
                .await?;
            // The health probe's one row (see `probe`); not schema, so not a migration.
            self.write
                .execute_unprepared(
                    "CREATE TABLE IF NOT EXISTS pulse_heartbeat (id INTEGER PRIMARY KEY, beat BIGINT)",
                )
                .await?;
        }
        let tx = self.write.begin().await?;
        let lock = match self.backend {
            DbBackend::Postgres => format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"),
            _ => "INSERT INTO pulse_migration_lock (id) VALUES (1)".to_owned(),
        };
        tx.execute_unprepared(&lock).await?;
        Ok(tx)
    }

    async fn unlock_migration(&self, tx: &DatabaseTransaction) -> Result<()> {
        if self.backend == DbBackend::Sqlite {
            tx.execute_unprepared("DELETE FROM pulse_migration_lock")
                .await?;
        }
        Ok(())
    }
}
