//! Settings: one struct, filled by clap from flags or `PULSE_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::secret::Secret;

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

/// A database URL, read once at start: which backend it names (and, for
/// SQLite, which file). Everything that depends on the backend asks this
/// type instead of looking at the text again. `Debug` hides credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:FILE` or `sqlite://FILE[?…]`; `file` is `None` in memory.
    Sqlite {
        /// The whole URL, as given.
        url: String,
        /// The database file, if any.
        file: Option<std::path::PathBuf>,
    },
    /// `postgres://…` or `postgresql://…`, one host.
    Postgres {
        /// The whole URL, as given.
        url: String,
    },
}

impl DatabaseUrl {
    /// The URL as given (credentials included: for connecting only).
    pub fn as_str(&self) -> &str {
        match self {
            DatabaseUrl::Sqlite { url, .. } | DatabaseUrl::Postgres { url } => url,
        }
    }

    /// Whether it names a PostgreSQL server.
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres { .. })
    }

    /// The SQLite database file, if it names one.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        match self {
            DatabaseUrl::Sqlite { file, .. } => file.as_deref(),
            DatabaseUrl::Postgres { .. } => None,
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let url = value.trim().to_owned();
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let hosts = authority.rsplit('@').next().unwrap_or_default();
            if hosts.contains(',') {
                return Err(
                    "multi-host PostgreSQL URLs (failover) are not supported yet: name the primary"
                        .into(),
                );
            }
            return Ok(DatabaseUrl::Postgres { url });
        }
        let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            return Err("the database URL must start with sqlite: or postgres://".into());
        };
        let path = rest.split('?').next().unwrap_or(rest);
        let file = (!path.is_empty() && !path.contains(":memory:"))
            .then(|| std::path::PathBuf::from(path));
        Ok(DatabaseUrl::Sqlite { url, file })
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite { file, .. } => write!(f, "Sqlite({file:?})"),
            // The URL may carry a password: only the host part is shown.
            DatabaseUrl::Postgres { url } => {
                let rest = url.split_once("://").map_or("", |(_, r)| r);
                let host = rest.split(['/', '?']).next().unwrap_or_default();
                let host = host.rsplit('@').next().unwrap_or_default();
                write!(f, "Postgres({host})")
            }
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// Without credentials, for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
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
    pub url: DatabaseUrl,
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
    /// The master key sealing user-token signing keys at rest: base64 of 32
    /// bytes. Required with PostgreSQL (all replicas share it).
    #[arg(long = "master-key", env = "PULSE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,
    /// A file holding the master key (base64). With a SQLite file database
    /// and no key given, `<database>.master.key` is created (mode 0600).
    #[arg(long = "master-key-file", env = "PULSE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Failed authentications allowed per peer address per second, after
    /// the burst; beyond it failures get RESOURCE_EXHAUSTED + retry-after.
    #[arg(long, env = "PULSE_FAILED_AUTH_PER_SECOND", default_value_t = 10)]
    pub failed_auth_per_second: u32,
    /// Failed authentications a peer address may burst.
    #[arg(long, env = "PULSE_FAILED_AUTH_BURST", default_value_t = 100)]
    pub failed_auth_burst: u32,
    /// Database lookups of credentials not in memory ("cold" lookups)
    /// allowed per second over all callers (and as a burst). Beyond it a
    /// lookup waits up to a second for its turn, then fails UNAVAILABLE, so
    /// a flood of made-up keys costs the database a bounded rate of queries.
    #[arg(long, env = "PULSE_COLD_LOOKUPS_PER_SECOND", default_value_t = 2000)]
    pub cold_lookups_per_second: u32,
    #[command(flatten)]
    pub connections: ConnectionSettings,
    #[command(flatten)]
    pub tls: TlsSettings,
    #[command(flatten)]
    pub events: EventSettings,
    /// Seconds a verifier may cache the JWKS (`Cache-Control: max-age`),
    /// and so how long a rotated-in signing key waits (STANDBY) before it
    /// signs: every verifier has re-fetched the key set by then. At most 300.
    #[arg(long, env = "PULSE_JWKS_MAX_AGE", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub jwks_max_age: u64,
    /// Serve Prometheus metrics on this address at `/metrics` (off unless set).
    #[arg(long, env = "PULSE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Proxies (CIDRs, comma-separated) whose `x-forwarded-for` is
    /// believed: only for calls whose TCP peer is in these networks is the
    /// client address (checked against keys' `allowed_cidrs`) taken from
    /// that header. None by default: the TCP peer is the client.
    #[arg(
        long = "trusted-proxies",
        env = "PULSE_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_cidr
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Browser origins (comma-separated, exact `scheme://host[:port]`)
    /// whose pages may call the API cross-origin over gRPC-Web: preflights
    /// are answered and CORS headers added for these origins only. None by
    /// default: the console served here at `/` is same-origin and needs
    /// none; set this only for a console or app hosted elsewhere.
    #[arg(
        long = "cors-allow-origin",
        env = "PULSE_CORS_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_parser = parse_origin
    )]
    pub cors_allow_origin: Vec<crate::domain::origin::Origin>,
    /// Do not serve the web console (static files built into the binary)
    /// at `/` on the gRPC port; `/` then answers 404. gRPC, gRPC-Web and
    /// the JWKS are unaffected.
    #[arg(
        long = "no-console",
        env = "PULSE_NO_CONSOLE",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub no_console: bool,
    /// How long a member's session (`ses_…`) lasts: seconds, or with a
    /// unit (`90s`, `30m`, `12h`, `7d`). At least a minute, at most 30 days.
    #[arg(
        long = "session-ttl",
        env = "PULSE_SESSION_TTL",
        default_value = "12h",
        value_parser = parse_session_ttl
    )]
    pub session_ttl: std::time::Duration,
}

/// `--session-ttl`: `N`, `Ns`, `Nm`, `Nh` or `Nd`, between 1 minute and 30 days.
fn parse_session_ttl(value: &str) -> Result<std::time::Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => value.split_at(i),
        None => (value, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration like 12h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{value:?}: the unit must be s, m, h or d")),
    };
    if !(60..=30 * 86_400).contains(&secs) {
        return Err("must be between 1 minute and 30 days".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// One `--cors-allow-origin` entry, checked at start.
fn parse_origin(value: &str) -> Result<crate::domain::origin::Origin, String> {
    value.parse()
}

/// One `--trusted-proxies` entry, parsed at start (the settings hold the
/// networks, not text to check again).
fn parse_cidr(value: &str) -> Result<ipnet::IpNet, String> {
    crate::domain::networks::parse_network(value)
}

/// Limits on the gRPC port's connections, so idle or half-open sockets
/// cannot exhaust the server (see SECURITY.md).
#[derive(Clone, Debug, Args)]
pub struct ConnectionSettings {
    /// Seconds a new connection has to send the HTTP/2 preface and its
    /// first complete request frame; it is closed otherwise.
    #[arg(long, env = "PULSE_HANDSHAKE_TIMEOUT", default_value_t = 10)]
    pub handshake_timeout: u64,
    /// Seconds a connection may go without sending a request frame (headers,
    /// data, reset, window update) before it is closed. Clients reconnect.
    #[arg(long, env = "PULSE_IDLE_TIMEOUT", default_value_t = 300)]
    pub idle_timeout: u64,
    /// Seconds between HTTP/2 keepalive pings the server sends.
    #[arg(long, env = "PULSE_KEEPALIVE_INTERVAL", default_value_t = 30)]
    pub keepalive_interval: u64,
    /// Seconds a keepalive ping may go unanswered before the connection
    /// is closed.
    #[arg(long, env = "PULSE_KEEPALIVE_TIMEOUT", default_value_t = 10)]
    pub keepalive_timeout: u64,
    /// Most open connections; beyond it new connections are closed as soon
    /// as they are accepted. Lowered at start to fit the process's file
    /// descriptor limit (whose soft value is raised to the hard one).
    #[arg(
        id = "connection_cap",
        long = "max-connections",
        env = "PULSE_MAX_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_connections: usize,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            handshake_timeout: 10,
            idle_timeout: 300,
            keepalive_interval: 30,
            keepalive_timeout: 10,
            max_connections: 10_000,
        }
    }
}

/// Live events (`WatchEvents`) and `key.expiring` notices. Hidden: for
/// tests and benchmarks.
#[derive(Clone, Debug, Args)]
pub struct EventSettings {
    /// Events buffered per process for watchers; a watcher that falls
    /// this far behind is ended with RESOURCE_EXHAUSTED.
    #[arg(long, env = "PULSE_EVENTS_BUFFER", default_value_t = 4096, hide = true)]
    pub events_buffer: usize,
    /// Milliseconds between two reads of new audit events.
    #[arg(long, env = "PULSE_EVENTS_POLL_MS", default_value_t = 50, hide = true)]
    pub events_poll_ms: u64,
    /// Milliseconds between two sweeps for keys due a `key.expiring` notice.
    #[arg(
        long,
        env = "PULSE_EXPIRY_SWEEP_MS",
        default_value_t = 60_000,
        hide = true
    )]
    pub expiry_sweep_ms: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            events_buffer: 4096,
            events_poll_ms: 50,
            expiry_sweep_ms: 60_000,
        }
    }
}

/// TLS for the gRPC port (rustls, ring). Off unless a certificate is given.
#[derive(Clone, Debug, Default, Args)]
pub struct TlsSettings {
    /// PEM certificate chain of the server; turns TLS on (needs --tls-key).
    #[arg(long = "tls-cert", env = "PULSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the server certificate.
    #[arg(long = "tls-key", env = "PULSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): when set, every client must present a
    /// certificate signed by one of them (mutual TLS for internal services).
    /// Credentials are still required on top: the certificate admits the
    /// connection, the token says who is calling.
    #[arg(
        long = "tls-client-ca",
        env = "PULSE_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
}

impl ServeSettings {
    /// Settings for tests: `database` on 127.0.0.1:0 with an explicit master key.
    pub fn for_tests(database: DatabaseSettings, master_key: Option<Secret>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database,
            master_key,
            master_key_file: None,
            // Tests make many failed calls on purpose; the limit has its own test.
            failed_auth_per_second: 10_000,
            failed_auth_burst: 10_000,
            cold_lookups_per_second: 2000,
            connections: ConnectionSettings::default(),
            tls: TlsSettings::default(),
            events: EventSettings::default(),
            jwks_max_age: 300,
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            cors_allow_origin: Vec::new(),
            no_console: false,
            session_ttl: std::time::Duration::from_secs(12 * 3600),
        }
    }
}

impl DatabaseSettings {
    /// Settings for a given URL with default pool sizes (used by tests).
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into().parse().expect("a database URL"),
            max_connections: 16,
        }
    }
}

#[cfg(test)]
mod database_url_tests {
    use super::DatabaseUrl;

    #[test]
    fn urls_are_sniffed_once() {
        let url: DatabaseUrl = "sqlite://data/pulse.db?mode=rwc".parse().unwrap();
        assert_eq!(
            url.sqlite_file(),
            Some(std::path::Path::new("data/pulse.db"))
        );
        assert!(!url.is_postgres());
        let memory: DatabaseUrl = "sqlite::memory:".parse().unwrap();
        assert_eq!(memory.sqlite_file(), None);
        let pg: DatabaseUrl = "postgres://u:secret@db:5432/pulse".parse().unwrap();
        assert!(pg.is_postgres());
        assert_eq!(format!("{pg:?}"), "Postgres(db:5432)");
        assert!(!format!("{pg}").contains("secret"));
        assert!("postgresql://a,b/db".parse::<DatabaseUrl>().is_err());
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
    }
}
