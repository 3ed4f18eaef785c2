//! Settings: one struct, filled by clap from flags or `PULSE_*` variables.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Database settings, shared by every command that opens the database.
#[derive(Clone, Debug, Args)]
pub struct DatabaseSettings {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://…`. Defaults to
    /// the SQLite file `pulse.db` in the working directory.
    #[arg(
        long = "database-url",
        env = "PULSE_DATABASE_URL",
        default_value = "sqlite://pulse.db?mode=rwc"
    )]
    pub url: String,
    /// Maximum pooled connections (PostgreSQL) or readers (SQLite).
    #[arg(
        long = "database-max-connections",
        env = "PULSE_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub max_connections: u32,
}

/// Settings of `pulse serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeSettings {
    /// Address to listen on for gRPC.
    #[arg(long, env = "PULSE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseSettings,
}

impl DatabaseSettings {
    /// Settings for a given URL with default pool sizes (used by tests).
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
        }
    }
}
