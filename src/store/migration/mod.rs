//! Database migrations, applied in order by [`Migrator`]. Files are named
//! `mYYYYMMDD_NNNNNN_what.rs`; a released migration is never edited.

use sea_orm_migration::prelude::*;

mod m20261128_000001_core;
mod m20261128_000002_data_plane;
mod m20261128_000003_environment_counters;
mod m20261129_000004_audit_and_expiry;
mod m20261130_000005_least_privilege;
mod m20261130_000006_events_usage_signing;
mod m20261204_000007_team_access;
mod m20261204_000008_room_access;

/// Every migration of the schema.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_core::Migration),
            Box::new(m20261128_000002_data_plane::Migration),
            Box::new(m20261128_000003_environment_counters::Migration),
            Box::new(m20261129_000004_audit_and_expiry::Migration),
            Box::new(m20261130_000005_least_privilege::Migration),
            Box::new(m20261130_000006_events_usage_signing::Migration),
            Box::new(m20261204_000007_team_access::Migration),
            Box::new(m20261204_000008_room_access::Migration),
        ]
    }
}
