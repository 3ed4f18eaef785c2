//! Builds the gRPC server and runs it until shutdown.
//!
//! [`Application::build`] opens the database, migrates, bootstraps and
//! binds the listener; [`Application::run_until_stopped`] serves until the
//! shutdown future completes, then stops accepting and lets in-flight calls
//! finish. Tests build it on port 0 and read [`Application::local_addr`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::api::AppState;
use crate::api::account::AccountApi;
use crate::api::audit::AuditApi;
use crate::api::auth::AuthApi;
use crate::api::environment::EnvironmentApi;
use crate::api::event::EventApi;
use crate::api::member::MemberApi;
use crate::api::room::RoomApi;
use crate::api::session::SessionApi;
use crate::api::thread::ThreadApi;
use crate::api::user::UserApi;
use crate::auth::ratelimit::{ColdLookups, FailedAuthLimiter};
use crate::auth::team::{SIGN_IN_FAILURES_PER_MINUTE, SignInLimiter, Team};
use crate::auth::tokens::TokenService;
use crate::auth::{AuthLayer, KeyIndex, sealing};
use crate::cluster::{Cluster, Revoker};
use crate::config::{ConnectionSettings, EventSettings, ServeSettings, TlsSettings};
use crate::domain::page::PageSealer;
use crate::event_hub::{EventHub, spawn_expiry_sweeper};
use crate::metrics::{self, Metrics};
use crate::pb;
use crate::pb::account_service_server::AccountServiceServer;
use crate::pb::audit_service_server::AuditServiceServer;
use crate::pb::auth_service_server::AuthServiceServer;
use crate::pb::environment_service_server::EnvironmentServiceServer;
use crate::pb::event_service_server::EventServiceServer;
use crate::pb::member_service_server::MemberServiceServer;
use crate::pb::room_service_server::RoomServiceServer;
use crate::pb::session_service_server::SessionServiceServer;
use crate::pb::thread_service_server::ThreadServiceServer;
use crate::pb::user_service_server::UserServiceServer;
use crate::server::gate::DatabaseGate;
use crate::store::Store;
use crate::store::accounts::NewAccount;
use crate::telemetry::RpcTraceLayer;
use endpoint::EndpointLayer;

pub mod connections;
pub mod console;
pub mod cors;
pub mod endpoint;
pub mod gate;
pub mod jwks;
use crate::domain::networks::Networks;
use sea_orm::DbBackend;

/// Request limits. Every request message of ours fits in well under
/// [`MAX_MESSAGE_BYTES`](limits::MAX_MESSAGE_BYTES) (a 10,000-character
/// comment is at most 40 KB).
mod limits {
    use std::time::Duration;

    /// Largest request or response message.
    pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
    /// Largest request metadata (all headers): room for the largest user
    /// token the server mints (`MAX_TOKEN_LEN`, a token with 1,000 room
    /// patterns) plus ordinary headers.
    pub const MAX_METADATA_BYTES: u32 = 80 * 1024;
    /// Default deadline of an RPC (a shorter `grpc-timeout` wins).
    pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);
    /// Concurrent streams per HTTP/2 connection.
    pub const STREAMS_PER_CONNECTION: usize = 1024;
}

/// Every `pulse.v1` service, once: `$server::new($api::new(state))`, with
/// the message limits. From this one list come the router's services and
/// the names health reports on; a test checks it against the protos.
macro_rules! pulse_services {
    ($router:expr, $state:expr; $($server:ident($api:ident)),* $(,)?) => {{
        let router = $router;
        $(let router = router.add_service(
            $server::new($api::new($state.clone()))
                .max_decoding_message_size(limits::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(limits::MAX_MESSAGE_BYTES),
        );)*
        let names: &[&str] = &[$(<$server<$api> as tonic::server::NamedService>::NAME),*];
        (router, names)
    }};
}

/// Every service of a router built by [`pulse_services!`], in one place.
macro_rules! all_pulse_services {
    ($router:expr, $state:expr) => {
        pulse_services!($router, $state;
            AccountServiceServer(AccountApi),
            AuditServiceServer(AuditApi),
            EnvironmentServiceServer(EnvironmentApi),
            EventServiceServer(EventApi),
            AuthServiceServer(AuthApi),
            MemberServiceServer(MemberApi),
            SessionServiceServer(SessionApi),
            RoomServiceServer(RoomApi),
            ThreadServiceServer(ThreadApi),
            UserServiceServer(UserApi),
        )
    };
}

async fn set_health(
    health: &tonic_health::server::HealthReporter,
    services: &[&str],
    status: ServingStatus,
) {
    // "" is the server as a whole.
    for service in std::iter::once(&"").chain(services) {
        health.set_service_status(*service, status).await;
    }
}

/// Health follows the database: NOT_SERVING while it cannot be reached or
/// written (so
/// load balancers and readiness probes route around this replica), SERVING
/// again as soon as it answers. Checked every second, 2 s timeout.
async fn watch_database(
    store: Store,
    health: tonic_health::server::HealthReporter,
    services: Vec<&'static str>,
    reachable: tokio::sync::watch::Sender<bool>,
) {
    let mut serving = true;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let ok = tokio::time::timeout(std::time::Duration::from_secs(2), store.probe())
            .await
            .is_ok_and(|r| r.is_ok());
        // The gate reads it (see `gate`); nothing else needs to know.
        reachable.send_replace(ok);
        if ok != serving {
            serving = ok;
            if ok {
                tracing::info!("database reachable again: SERVING");
                set_health(&health, &services, ServingStatus::Serving).await;
            } else {
                tracing::warn!("database unreachable: NOT_SERVING");
                set_health(&health, &services, ServingStatus::NotServing).await;
            }
        }
    }
}

/// A server that is ready to serve: database migrated, port bound.
#[derive(Debug)]
pub struct Application {
    /// The bound listener (port 0 resolved).
    listener: TcpListener,
    /// Shared handler state.
    state: AppState,
    /// The account created on an empty database, to print once.
    bootstrap: Option<NewAccount>,
    /// The per-peer failed-authentication limit.
    failed_auth: Arc<FailedAuthLimiter>,
    /// TLS, when configured.
    tls: Option<ServerTlsConfig>,
    /// Metrics and their bound listener, when configured.
    metrics: Option<(Arc<Metrics>, TcpListener)>,
    /// Connection deadlines and keepalive.
    connections: ConnectionSettings,
    /// The connection cap, fitted to the open-file limit.
    max_connections: usize,
    /// Peers whose `x-forwarded-for` is believed.
    trusted_proxies: Networks,
    /// Live events' poll and sweep periods.
    events: EventSettings,
    /// The JWKS `Cache-Control: max-age` (and signing keys' standby), s.
    jwks_max_age: u64,
    /// CORS for the configured browser origins; `None` (off) by default.
    cors: Option<tower_http::cors::CorsLayer>,
    /// Whether the web console is served at `/` (`--no-console` clears it).
    console: bool,
}

/// Reads the TLS files named by the settings; `None` when TLS is off.
fn load_tls(settings: &TlsSettings) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) else {
        return Ok(None);
    };
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).with_context(|| format!("reading the TLS {what} {}", path.display()))
    };
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(
        read(cert, "certificate")?,
        read(key, "key")?,
    ));
    if let Some(ca) = &settings.tls_client_ca {
        config = config
            .client_ca_root(Certificate::from_pem(read(ca, "client CA")?))
            .client_auth_optional(false);
    }
    Ok(Some(config))
}

impl Application {
    /// Connects to the database, migrates, creates the default account if
    /// the database is empty, and binds the listen address.
    pub async fn build(settings: &ServeSettings) -> anyhow::Result<Self> {
        let tls = load_tls(&settings.tls)?;
        let cors = cors::layer(&settings.cors_allow_origin)?;
        let metrics = match settings.metrics_listen {
            Some(addr) => Some((Arc::new(Metrics::default()), metrics::bind(addr).await?)),
            None => None,
        };
        // Fail on a missing or bad master key before touching the database.
        let master = sealing::resolve(
            settings.master_key.as_ref().map(|k| k.expose()),
            settings.master_key_file.as_deref(),
            &settings.database.url,
        )?;
        let store = Store::connect(&settings.database)
            .await
            .context("opening the database")?;
        // Revocations are announced to other replicas on a shared database.
        let cluster = Arc::new(Cluster::new(store.backend() == DbBackend::Postgres));
        let mut store = store.with_announcer(cluster.clone());
        if let Some((metrics, _)) = &metrics {
            store = store.with_observer(metrics.clone());
        }
        let bootstrap = store.prepare().await.context("migrating the database")?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let failed_auth = Arc::new(FailedAuthLimiter::new(
            settings.failed_auth_per_second,
            settings.failed_auth_burst,
        ));
        let index = Arc::new(
            KeyIndex::new(store.clone()).with_cold_lookups(ColdLookups::new(
                settings.cold_lookups_per_second,
                failed_auth.clone(),
            )),
        );
        index.spawn_usage_writer();
        let pages = PageSealer::new(master.derive("pulse page tokens v1"));
        let trusted_proxies = Networks::from(settings.trusted_proxies.clone());
        let team = Arc::new(Team {
            sealer: sealing::MasterKey::from_bytes(&master.derive("pulse totp secrets v1"))?,
            session_ttl: settings.session_ttl,
            sign_ins: SignInLimiter::new(SIGN_IN_FAILURES_PER_MINUTE),
            trusted_proxies: trusted_proxies.clone(),
        });
        let tokens = Arc::new(
            TokenService::new(store.clone(), master)
                .with_standby(Duration::from_secs(settings.jwks_max_age)),
        );
        // Listen for other replicas' revocations before serving anything.
        cluster.spawn(
            store.clone(),
            settings.database.url.as_str().to_owned(),
            index.clone(),
            tokens.clone(),
        );
        Ok(Self {
            listener,
            state: AppState {
                store,
                revoker: Revoker {
                    index: index.clone(),
                    tokens: tokens.clone(),
                    cluster,
                },
                index,
                tokens,
                pages,
                events: Arc::new(EventHub::new(settings.events.events_buffer)),
                team,
            },
            bootstrap,
            failed_auth,
            tls,
            metrics,
            connections: settings.connections.clone(),
            max_connections: connections::fit_connection_cap(settings.connections.max_connections),
            trusted_proxies,
            events: settings.events.clone(),
            jwks_max_age: settings.jwks_max_age,
            cors,
            console: !settings.no_console,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The metrics listener's address, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(_, l)| l.local_addr().ok())
    }

    /// The account created on an empty database, if this start created it.
    pub fn take_bootstrap(&mut self) -> Option<NewAccount> {
        self.bootstrap.take()
    }

    /// Serves until `shutdown` completes; then stops accepting connections
    /// and waits for in-flight calls to finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let state = self.state;
        let metrics_for_connections = self.metrics.as_ref().map(|(m, _)| m.clone());
        let (metrics, metrics_task) = match self.metrics {
            Some((metrics, listener)) => {
                let (index, store) = (state.index.clone(), state.store.clone());
                let gauges = move || metrics::Gauges {
                    key_cache: index.cache_stats(),
                    pools: store.pool_stats(),
                };
                let task = tokio::spawn(metrics::serve(listener, metrics.clone(), gauges));
                (Some(metrics), Some(task))
            }
            None => (None, None),
        };
        let tls_on = self.tls.is_some();
        // The health watcher tells the gate whether the database answers.
        let (reachable_tx, reachable) = tokio::sync::watch::channel(true);
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls).context("configuring TLS")?;
        }
        // Layers run in the order added, the first outermost:
        // CORS (answers preflights) → JWKS and console (plain HTTP GETs,
        // never gRPC) → gRPC-Web (a browser's call becomes a gRPC call
        // here) → trace/metrics → database gate → auth → the services. So
        // a gRPC-Web call is traced, gated and authenticated exactly as a
        // native one, and gets the same status codes.
        let router = builder
            // HTTP/1.1 too, for the JWKS, the console and gRPC-Web; native
            // gRPC needs HTTP/2.
            .accept_http1(true)
            // Limits: a slow or hostile client cannot hold unbounded work.
            .timeout(limits::RPC_TIMEOUT)
            .concurrency_limit_per_connection(limits::STREAMS_PER_CONNECTION)
            .http2_max_header_list_size(Some(limits::MAX_METADATA_BYTES))
            .http2_keepalive_interval(Some(Duration::from_secs(
                self.connections.keepalive_interval.max(1),
            )))
            .http2_keepalive_timeout(Some(Duration::from_secs(
                self.connections.keepalive_timeout.max(1),
            )))
            .layer(tower::util::option_layer(self.cors))
            .layer(EndpointLayer(jwks::JwksEndpoint::new(
                state.tokens.clone(),
                state.index.clone(),
                self.jwks_max_age,
            )))
            .layer(EndpointLayer(console::Console::new(self.console)))
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(RpcTraceLayer::new(metrics.clone()))
            .layer(DatabaseGate::new(reachable))
            .layer(AuthLayer::new(
                state.index.clone(),
                state.tokens.clone(),
                self.failed_auth,
                metrics,
                self.trusted_proxies,
            ))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        let (router, services) = all_pulse_services!(router, state);
        // Migrations are done by the time we serve.
        set_health(&health, services, ServingStatus::Serving).await;
        let watcher = tokio::spawn(watch_database(
            state.store.clone(),
            health,
            services.to_vec(),
            reachable_tx,
        ));
        // Live events: the tail every WatchEvents reads from, and the
        // key.expiring notices.
        let tail = state.events.spawn(
            state.store.clone(),
            Duration::from_millis(self.events.events_poll_ms),
        );
        let sweeper = spawn_expiry_sweeper(
            state.store.clone(),
            Duration::from_millis(self.events.expiry_sweep_ms),
        );
        // Watch streams never end by themselves: end them when shutdown
        // starts, or graceful shutdown would wait for them forever.
        let events = state.events.clone();
        let shutdown = async move {
            shutdown.await;
            events.close();
        };
        router
            .serve_with_incoming_shutdown(
                connections::GuardedIncoming::new(
                    self.listener,
                    &self.connections,
                    self.max_connections,
                    tls_on,
                    metrics_for_connections,
                )
                .with_watches(state.events.watches().clone()),
                shutdown,
            )
            .await
            .context("serving gRPC")?;
        // The last counts (at most a second's) are written, not lost.
        if let Err(e) = state.index.usage().flush(&state.store).await {
            tracing::warn!(error = %e, "could not write the last key usage counts");
        }
        watcher.abort();
        tail.abort();
        sweeper.abort();
        if let Some(task) = metrics_task {
            task.abort();
        }
        Ok(())
    }
}
