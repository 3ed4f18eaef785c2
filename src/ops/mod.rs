//! Ops commands that talk gRPC to a running server: `pulse env …`,
//! `pulse keys …`, `pulse users …`, `pulse stats …`. Human tables by default, `--json` for
//! scripts; the server and credential come from `PULSE_ADDR` and
//! `PULSE_ADMIN_TOKEN` (or flags). A failed call prints its gRPC code and
//! message and exits non-zero.

mod events_watch;
mod keys_usage;
mod output;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use clap::{Args, Subcommand};
use serde_json::json;
use tonic::transport::Channel;

use crate::domain::secret::Secret;
use crate::pb;
use crate::pb::environment_service_client::EnvironmentServiceClient;
use output::{Table, api_key_json, environment_json, time};

/// Where the server is and how to authenticate.
#[derive(Clone, Debug, Args)]
pub struct Connection {
    /// The server: `host:port` or `http://host:port` (plaintext), or
    /// `https://host:port` (TLS).
    #[arg(
        long,
        env = "PULSE_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub addr: String,
    /// An admin token, `ak_…`.
    #[arg(long, env = "PULSE_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub admin_token: Option<Secret>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show progress on stderr when listing takes longer than this (ms).
    #[arg(
        long,
        env = "PULSE_PROGRESS_AFTER_MS",
        default_value_t = 1000,
        hide = true,
        global = true
    )]
    pub progress_after_ms: u64,
}

/// `pulse env …`
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create an environment; prints its keys (the secret key only this once).
    Create {
        /// Display name, e.g. Production.
        name: String,
    },
    /// List every environment (all pages).
    List {
        /// Environments per request.
        #[arg(long, default_value_t = 1000)]
        page_size: i32,
    },
    /// Show one environment.
    Get {
        /// The environment's id, `env_…`.
        id: String,
    },
    /// Rename an environment.
    Rename {
        /// The environment's id.
        id: String,
        /// The new display name.
        name: String,
    },
    /// Delete an environment with its keys and data.
    Delete {
        /// The environment's id.
        id: String,
    },
}

/// `pulse keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List an environment's keys.
    List {
        /// The environment's id.
        environment_id: String,
    },
    /// Replace the environment's keys with a new pair.
    Rotate {
        /// The environment's id.
        environment_id: String,
        /// Keep the old secret key working this many seconds (max 604800).
        #[arg(long, default_value_t = 0)]
        old_key_expire_seconds: i32,
    },
    /// Revoke one key.
    Revoke {
        /// The key's id, `key_…`.
        key_id: String,
    },
    /// Add a key next to the working ones: a secret key by default, a
    /// restricted key (`rk_…`, only its `--permission`s) with
    /// `--restricted`, or a publishable key with `--publishable`. The
    /// secret or restricted key is printed once.
    Create(CreateKey),
    /// A key's usage over time: successes, failures and user tokens
    /// minted per hour or day, with a sparkline of successes.
    Usage(keys_usage::KeyUsage),
}

/// `pulse keys create …`
#[derive(Debug, Args)]
pub struct CreateKey {
    /// The environment's id.
    pub environment_id: String,
    /// A restricted key (`rk_…`): allowed only what `--permission` says.
    #[arg(long, conflicts_with = "publishable", requires = "permissions")]
    pub restricted: bool,
    /// A publishable key (`pk_…`).
    #[arg(long)]
    pub publishable: bool,
    /// What a restricted key may do, repeatable: `rooms.read`,
    /// `rooms.write`, `comments.read`, `comments.write`, `users.read`,
    /// `tokens.write`, `events.read` (`write` implies `read`).
    #[arg(
        long = "permission",
        value_name = "PERMISSION",
        requires = "restricted"
    )]
    pub permissions: Vec<String>,
    /// A name to recognise the key by, e.g. "analytics job".
    #[arg(long)]
    pub display_name: Option<String>,
    /// Secret and restricted keys: a network (CIDR or one address) the key
    /// may be used from, repeatable (at most 32); none: anywhere.
    #[arg(
        long = "allowed-cidr",
        value_name = "CIDR",
        conflicts_with = "publishable"
    )]
    pub allowed_cidrs: Vec<String>,
    /// When the key stops working by itself: an RFC 3339 time
    /// (`2030-01-01T00:00:00Z`) or a duration from now (`90d`, `12h`,
    /// `30m`, `3600s`). Default: never.
    #[arg(long, value_name = "TIME|DURATION", value_parser = parse_expire)]
    pub expire: Option<prost_types::Timestamp>,
}

/// `--expire`: an RFC 3339 time, or a duration from now with a unit
/// (`s`, `m`, `h`, `d`).
fn parse_expire(value: &str) -> Result<prost_types::Timestamp, String> {
    if let Ok(at) = value.parse::<prost_types::Timestamp>() {
        return Ok(at);
    }
    let unit = match value.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => 0,
    };
    let seconds = value[..value.len().saturating_sub(1)]
        .parse::<u64>()
        .ok()
        .filter(|_| unit > 0)
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            format!("expected an RFC 3339 time or a duration like 90d, 12h, 30m, 3600s: {value:?}")
        })?;
    let at = std::time::SystemTime::now()
        .checked_add(Duration::from_secs(seconds))
        .ok_or_else(|| format!("duration too long: {value:?}"))?;
    Ok(at.into())
}

/// `pulse users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// End every user token of one user of the environment minted before
    /// now (on every replica when it returns); tokens minted later work.
    RevokeTokens {
        /// The environment's id, `env_…`.
        environment_id: String,
        /// The user's id.
        user_id: String,
    },
}

pub use events_watch::{EventsCommand, events};

/// A connected admin client.
struct Admin {
    envs: EnvironmentServiceClient<Channel>,
    /// The connection, for the other services' clients.
    channel: Channel,
    token: Secret,
    conn: Connection,
}

impl Admin {
    async fn connect(conn: Connection) -> anyhow::Result<Self> {
        let token = conn
            .admin_token
            .clone()
            .ok_or_else(|| anyhow!("no admin token: set PULSE_ADMIN_TOKEN or --admin-token"))?;
        // `host:port` as `--listen` and grpcurl write it means plaintext.
        let url = if conn.addr.contains("://") {
            conn.addr.clone()
        } else {
            format!("http://{}", conn.addr)
        };
        let channel = Channel::from_shared(url)
            .with_context(|| format!("bad server address {:?}", conn.addr))?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .with_context(|| format!("cannot reach {}", conn.addr))?;
        Ok(Self {
            envs: EnvironmentServiceClient::new(channel.clone()),
            channel,
            token,
            conn,
        })
    }

    /// `message` with the admin token attached.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.token.expose()).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }
}

/// A failed call as the user sees it: code and message.
fn failed(status: tonic::Status) -> anyhow::Error {
    anyhow!("{:?}: {}", status.code(), status.message())
}

/// Runs `pulse env …`.
pub async fn env(conn: Connection, command: EnvCommand) -> anyhow::Result<()> {
    let mut admin = Admin::connect(conn).await?;
    match command {
        EnvCommand::Create { name } => {
            let request = admin.request(pb::CreateEnvironmentRequest { display_name: name });
            let created = admin
                .envs
                .create_environment(request)
                .await
                .map_err(failed)?
                .into_inner();
            let env = created.environment.unwrap_or_default();
            let pk = created.publishable_key.unwrap_or_default();
            if admin.conn.json {
                print_json(&json!({
                    "environment": environment_json(&env),
                    "publishable_key": pk.value,
                    "secret_key": created.secret_key,
                }));
            } else {
                println!("environment  {} ({})", env.id, env.display_name);
                println!("publishable  {}", pk.value);
                println!(
                    "secret       {}   (shown once: store it now)",
                    created.secret_key
                );
            }
        }
        EnvCommand::List { page_size } => {
            let envs = list_all(&mut admin, page_size).await?;
            if admin.conn.json {
                print_json(&json!(
                    envs.iter().map(environment_json).collect::<Vec<_>>()
                ));
            } else {
                let mut table = Table::new(["ID", "NAME", "CREATED"]);
                for e in &envs {
                    table.row([e.id.clone(), e.display_name.clone(), time(&e.create_time)]);
                }
                table.print();
            }
        }
        EnvCommand::Get { id } => {
            let request = admin.request(pb::GetEnvironmentRequest { id });
            let env = admin
                .envs
                .get_environment(request)
                .await
                .map_err(failed)?
                .into_inner();
            print_environment(&admin, &env);
        }
        EnvCommand::Rename { id, name } => {
            let request = admin.request(pb::UpdateEnvironmentRequest {
                environment: Some(pb::Environment {
                    id,
                    display_name: name,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()],
                }),
            });
            let env = admin
                .envs
                .update_environment(request)
                .await
                .map_err(failed)?
                .into_inner();
            print_environment(&admin, &env);
        }
        EnvCommand::Delete { id } => {
            let request = admin.request(pb::DeleteEnvironmentRequest { id: id.clone() });
            admin
                .envs
                .delete_environment(request)
                .await
                .map_err(failed)?;
            if admin.conn.json {
                print_json(&json!({ "deleted": id }));
            } else {
                println!("deleted {id}");
            }
        }
    }
    Ok(())
}

fn print_environment(admin: &Admin, env: &pb::Environment) {
    if admin.conn.json {
        print_json(&environment_json(env));
    } else {
        let mut table = Table::new(["ID", "NAME", "CREATED", "UPDATED"]);
        table.row([
            env.id.clone(),
            env.display_name.clone(),
            time(&env.create_time),
            time(&env.update_time),
        ]);
        table.print();
    }
}

/// Every item of a paginated list: `fetch(page_token)` returns one page's
/// items and the next token (empty at the end); `on_page` hears the count
/// so far after each page.
async fn all_pages<T, F, Fut>(
    mut fetch: F,
    mut on_page: impl FnMut(usize),
) -> anyhow::Result<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let (items, next) = fetch(page_token).await.map_err(failed)?;
        all.extend(items);
        on_page(all.len());
        if next.is_empty() {
            return Ok(all);
        }
        page_token = next;
    }
}

/// Every environment, page by page. Says how far it got on stderr when it
/// takes longer than `--progress-after-ms` (a second by default).
async fn list_all(admin: &mut Admin, page_size: i32) -> anyhow::Result<Vec<pb::Environment>> {
    let start = Instant::now();
    let after = Duration::from_millis(admin.conn.progress_after_ms);
    let mut progress = false;
    let fetch = |page_token| {
        let request = admin.request(pb::ListEnvironmentsRequest {
            page_size,
            page_token,
        });
        let mut envs = admin.envs.clone();
        async move {
            let page = envs.list_environments(request).await?.into_inner();
            Ok((page.environments, page.next_page_token))
        }
    };
    let report = |so_far: usize| {
        if start.elapsed() >= after {
            progress = true;
            // Overwrite one line on a terminal; one line a page in a log.
            let end = if std::io::stderr().is_terminal() {
                "\r"
            } else {
                "\n"
            };
            eprint!("listing environments… {so_far} so far{end}");
        }
    };
    let all = all_pages(fetch, report).await?;
    if progress {
        eprintln!(
            "listed {} environments in {:.1} s",
            all.len(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(all)
}

/// Runs `pulse keys …`.
pub async fn keys(conn: Connection, command: KeysCommand) -> anyhow::Result<()> {
    let mut admin = Admin::connect(conn).await?;
    match command {
        KeysCommand::List { environment_id } => {
            let fetch = |page_token| {
                let request = admin.request(pb::ListKeysRequest {
                    environment_id: environment_id.clone(),
                    page_size: 1000,
                    page_token,
                });
                let mut envs = admin.envs.clone();
                async move {
                    let page = envs.list_keys(request).await?.into_inner();
                    Ok((page.keys, page.next_page_token))
                }
            };
            let keys = all_pages(fetch, |_| {}).await?;
            print_keys(&admin, &keys);
        }
        KeysCommand::Rotate {
            environment_id,
            old_key_expire_seconds,
        } => {
            let request = admin.request(pb::RotateKeysRequest {
                environment_id,
                old_key_expire_seconds,
            });
            let rotated = admin
                .envs
                .rotate_keys(request)
                .await
                .map_err(failed)?
                .into_inner();
            let pk = rotated.publishable_key.unwrap_or_default();
            if admin.conn.json {
                print_json(&json!({
                    "publishable_key": pk.value,
                    "secret_key": rotated.secret_key,
                    "revoked": rotated.keys.iter().map(api_key_json).collect::<Vec<_>>(),
                }));
            } else {
                println!("publishable  {}", pk.value);
                println!(
                    "secret       {}   (shown once: store it now)",
                    rotated.secret_key
                );
                println!("revoked      {} key(s)", rotated.keys.len());
            }
        }
        KeysCommand::Revoke { key_id } => {
            let request = admin.request(pb::RevokeKeyRequest { id: key_id });
            let key = admin
                .envs
                .revoke_key(request)
                .await
                .map_err(failed)?
                .into_inner();
            print_keys(&admin, std::slice::from_ref(&key));
        }
        KeysCommand::Usage(args) => {
            let request = admin.request(keys_usage::request(&args)?);
            let usage = admin.envs.get_key_usage(request).await.map_err(failed)?;
            keys_usage::print(&usage.into_inner().buckets, admin.conn.json);
        }
        KeysCommand::Create(create) => {
            let kind = if create.restricted {
                pb::ApiKeyKind::Restricted
            } else if create.publishable {
                pb::ApiKeyKind::Publishable
            } else {
                pb::ApiKeyKind::Secret
            };
            let request = admin.request(pb::CreateKeyRequest {
                environment_id: create.environment_id,
                kind: kind as i32,
                expire_time: create.expire,
                permissions: create.permissions,
                display_name: create.display_name.unwrap_or_default(),
                allowed_cidrs: create.allowed_cidrs,
            });
            let created = admin
                .envs
                .create_key(request)
                .await
                .map_err(failed)?
                .into_inner();
            let key = created.key.unwrap_or_default();
            if admin.conn.json {
                print_json(&json!({
                    "key": api_key_json(&key),
                    "secret_key": created.secret_key,
                }));
            } else {
                print_keys(&admin, std::slice::from_ref(&key));
                if !created.secret_key.is_empty() {
                    println!();
                    println!(
                        "{:<12} {}   (shown once: store it now)",
                        output::kind(key.kind),
                        created.secret_key
                    );
                } else if !key.value.is_empty() {
                    println!();
                    println!("publishable  {}", key.value);
                }
            }
        }
    }
    Ok(())
}

/// Runs `pulse users …`.
pub async fn users(conn: Connection, command: UsersCommand) -> anyhow::Result<()> {
    let mut admin = Admin::connect(conn).await?;
    match command {
        UsersCommand::RevokeTokens {
            environment_id,
            user_id,
        } => {
            let request = admin.request(pb::RevokeEnvironmentUserTokensRequest {
                environment_id,
                user_id,
            });
            let revocation = admin
                .envs
                .revoke_environment_user_tokens(request)
                .await
                .map_err(failed)?
                .into_inner();
            if admin.conn.json {
                print_json(&json!({
                    "user_id": revocation.user_id,
                    "not_before": revocation.not_before.as_ref().map(ToString::to_string),
                }));
            } else {
                println!(
                    "revoked the tokens of {} minted before {}",
                    revocation.user_id,
                    time(&revocation.not_before)
                );
            }
        }
    }
    Ok(())
}

fn print_keys(admin: &Admin, keys: &[pb::ApiKey]) {
    if admin.conn.json {
        print_json(&json!(keys.iter().map(api_key_json).collect::<Vec<_>>()));
        return;
    }
    let mut table = Table::new([
        "ID",
        "KIND",
        "PREFIX",
        "STATE",
        "NAME",
        "PERMISSIONS",
        "ALLOWED FROM",
        "CREATED",
        "LAST USED",
        "24H CALLS",
        "EXPIRES",
    ]);
    for k in keys {
        let kind = output::kind(k.kind);
        let state = output::state(k.state);
        table.row([
            k.id.clone(),
            kind.to_owned(),
            k.prefix.clone(),
            state.to_owned(),
            output::or_dash(&k.display_name),
            output::or_dash(&k.permissions.join(",")),
            output::or_dash(&k.allowed_cidrs.join(",")),
            time(&k.create_time),
            time(&k.last_use_time),
            k.success_count_24h.to_string(),
            time(&k.expire_time),
        ]);
    }
    table.print();
}

/// Runs `pulse stats ENV`.
pub async fn stats(conn: Connection, environment_id: String) -> anyhow::Result<()> {
    let mut admin = Admin::connect(conn).await?;
    let request = admin.request(pb::GetEnvironmentStatsRequest { environment_id });
    let stats = admin
        .envs
        .get_environment_stats(request)
        .await
        .map_err(failed)?
        .into_inner();
    if admin.conn.json {
        print_json(&json!({
            "rooms": stats.room_count,
            "threads": stats.thread_count,
            "users": stats.user_count,
            "comments": stats.comment_count,
        }));
    } else {
        let mut table = Table::new(["ROOMS", "THREADS", "USERS", "COMMENTS"]);
        table.row(
            [
                stats.room_count,
                stats.thread_count,
                stats.user_count,
                stats.comment_count,
            ]
            .map(|n| n.to_string()),
        );
        table.print();
    }
    Ok(())
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}
