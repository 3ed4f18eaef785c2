//! The `pulse` command line: `serve`, `migrate`, `account create`, and the
//! ops commands `env`, `keys`, `users`, `stats`, `events` (see [`crate::ops`]).

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{DatabaseSettings, LogFormat, ServeSettings};
use crate::ops;
use crate::server::Application;
use crate::store::Store;

/// Pulse control plane.
#[derive(Debug, Parser)]
#[command(name = "pulse", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "PULSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Export traces (a span per RPC) over OTLP/gRPC to this endpoint, e.g.
    /// `http://127.0.0.1:4317` (builds with the `otel` feature).
    #[arg(long, env = "PULSE_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (migrates first; on an empty database creates
    /// the account "default" and prints its admin token once).
    Serve(ServeSettings),
    /// Apply database migrations and exit.
    Migrate(DatabaseSettings),
    /// Manage accounts directly in the database.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Invite people to an account directly in the database (the first
    /// owner of a fresh install signs in without handling an `ak_`).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage environments on a running server (gRPC; PULSE_ADDR, PULSE_ADMIN_TOKEN).
    Env {
        #[command(flatten)]
        connection: ops::Connection,
        #[command(subcommand)]
        command: ops::EnvCommand,
    },
    /// Manage an environment's API keys on a running server.
    Keys {
        #[command(flatten)]
        connection: ops::Connection,
        #[command(subcommand)]
        command: ops::KeysCommand,
    },
    /// Act on an environment's users on a running server.
    Users {
        #[command(flatten)]
        connection: ops::Connection,
        #[command(subcommand)]
        command: ops::UsersCommand,
    },
    /// Watch the audit log live (`pulse events watch [ENV] [--json]`).
    Events {
        #[command(flatten)]
        connection: ops::Connection,
        #[command(subcommand)]
        command: ops::EventsCommand,
    },
    /// Show an environment's counts of rooms, threads, users and comments.
    Stats {
        #[command(flatten)]
        connection: ops::Connection,
        /// The environment's id, `env_…`.
        environment_id: String,
    },
}

/// `pulse account …`
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and its first admin token.
    Create {
        /// Display name of the account.
        name: String,
        /// Print one JSON line `{"account_id": …, "admin_token": …}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Manage an account's admin tokens directly in the database.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `pulse account token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an admin token for an account, without an admin token: the
    /// way back in after the account's last token was revoked. Needs
    /// database access (run it where `pulse serve` runs); audited with the
    /// actor `cli`.
    Create {
        /// The account's id, `acct_…`.
        account_id: String,
        /// Label for the token.
        #[arg(long, default_value = "recovered with pulse account token create")]
        name: String,
        /// Print one JSON line `{"admin_token_id": …, "admin_token": …}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

/// `pulse member …`
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Invite EMAIL and print the invite link (shown once, good for one
    /// use within 7 days). Needs database access (run it where `pulse
    /// serve` runs); audited with the actor `cli`.
    Invite {
        /// The person's email address.
        email: String,
        /// The member's role: owner, admin, developer or viewer.
        #[arg(long, default_value = "owner", value_parser = ["owner", "admin", "developer", "viewer"])]
        role: String,
        /// The account's id, `acct_…` (needed only when the database holds
        /// more than one account).
        #[arg(long)]
        account: Option<String>,
        /// Where the console is served, for the link.
        #[arg(
            long,
            env = "PULSE_CONSOLE_URL",
            default_value = "http://127.0.0.1:50051/"
        )]
        console_url: String,
        /// Print one JSON line `{"member_id", "invite_token", "invite_url"}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _telemetry = crate::telemetry::init(cli.log_format, cli.otlp_endpoint.as_deref());
    match cli.command {
        Command::Env {
            connection,
            command,
        } => ops::env(connection, command).await,
        Command::Keys {
            connection,
            command,
        } => ops::keys(connection, command).await,
        Command::Users {
            connection,
            command,
        } => ops::users(connection, command).await,
        Command::Stats {
            connection,
            environment_id,
        } => ops::stats(connection, environment_id).await,
        Command::Events {
            connection,
            command,
        } => ops::events(connection, command).await,
        Command::Serve(settings) => serve(settings).await,
        Command::Member(MemberCommand::Invite {
            email,
            role,
            account,
            console_url,
            json,
            database,
        }) => invite(&email, &role, account, &console_url, json, &database).await,
        Command::Migrate(database) => {
            let store = Store::connect(&database)
                .await
                .context("opening the database")?;
            store.migrate().await.context("migrating")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Account(AccountCommand::Token(TokenCommand::Create {
            account_id,
            name,
            json,
            database,
        })) => recover_token(account_id, name, json, database).await,
        Command::Account(AccountCommand::Create {
            name,
            json,
            database,
        }) => {
            let name = display_name("NAME", &name, "account")?;
            let store = open_migrated(&database).await?;
            let created = store
                .create_account(name.as_str(), &crate::domain::audit::Actor::local("cli"))
                .await
                .context("creating the account")?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "account_id": created.account.id,
                        "admin_token": created.token.expose(),
                    })
                );
            } else {
                println!(
                    "account: {} ({})",
                    created.account.id, created.account.display_name
                );
                println!("admin token (shown once): {}", created.token.expose());
            }
            Ok(())
        }
    }
}

/// A display name given on the command line, or why not.
fn display_name(
    field: &str,
    value: &str,
    what: &str,
) -> anyhow::Result<crate::domain::names::DisplayName> {
    crate::domain::names::parse_display_name(field, value)
        .map_err(|e| anyhow::anyhow!("invalid {what} name: {e:?}"))
}

/// Opens the database and applies pending migrations (offline commands).
async fn open_migrated(database: &DatabaseSettings) -> anyhow::Result<Store> {
    let store = Store::connect(database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("migrating")?;
    Ok(store)
}

/// `pulse member invite`.
async fn invite(
    email: &str,
    role: &str,
    account: Option<String>,
    console_url: &str,
    json: bool,
    database: &DatabaseSettings,
) -> anyhow::Result<()> {
    use crate::domain::roles::{Environments, Grant, Role, parse_email};
    let email = parse_email("EMAIL", email).map_err(|e| anyhow::anyhow!("invalid email: {e:?}"))?;
    let grant = Grant {
        role: Role::from_stored(role),
        environments: Environments::All,
    };
    let store = open_migrated(database).await?;
    let actor = crate::domain::audit::Actor::local("cli");
    let account = account.map(crate::domain::ids::AccountId::from_stored);
    let (account_id, invite) = store
        .invite_member_offline(account.as_ref(), &email, &grant, &actor)
        .await
        .map_err(|e| anyhow::anyhow!("inviting {email}: {e}"))?;
    let url = format!(
        "{}/#/accept?token={}",
        console_url.trim_end_matches('/'),
        invite.token.expose()
    );
    if json {
        println!(
            "{}",
            serde_json::json!({
                "account_id": account_id.as_str(),
                "member_id": invite.member.id,
                "invite_token": invite.token.expose(),
                "invite_url": url,
            })
        );
    } else {
        println!("invited {email} as {role} to {account_id}");
        println!("invite link (shown once, valid 7 days): {url}");
    }
    Ok(())
}

/// `pulse account token create`.
async fn recover_token(
    account_id: String,
    name: String,
    json: bool,
    database: DatabaseSettings,
) -> anyhow::Result<()> {
    let name = display_name("--name", &name, "token")?;
    let store = open_migrated(&database).await?;
    let actor = crate::domain::audit::Actor::local("cli");
    // Any text: an id that is not one is simply not found.
    let id = crate::domain::ids::AccountId::from_stored(account_id.clone());
    let created = match store.recover_admin_token(&id, name.as_str(), &actor).await {
        Ok(created) => created,
        Err(crate::error::Error::NotFound(_)) => {
            anyhow::bail!("account {account_id:?} not found in this database")
        }
        Err(e) => return Err(anyhow::anyhow!("creating the admin token: {e}")),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "admin_token_id": created.admin_token.id,
                "admin_token": created.token.expose(),
            })
        );
    } else {
        println!(
            "admin token {} for {account_id} (shown once): {}",
            created.admin_token.id,
            created.token.expose()
        );
    }
    Ok(())
}

async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let mut app = Application::build(&settings).await?;
    if let Some(created) = app.take_bootstrap() {
        // Printed to stdout, never logged: this is the one time it is shown.
        println!(
            "Created account \"default\" ({}). Admin token, shown once: {}",
            created.account.id,
            created.token.expose()
        );
    }
    tracing::info!(listen = %app.local_addr(), metrics = ?app.metrics_addr(), backend = ?app_backend(&settings), "pulse serving");
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("pulse stopped");
    Ok(())
}

fn app_backend(settings: &ServeSettings) -> &'static str {
    if settings.database.url.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: finishing in-flight calls");
}
