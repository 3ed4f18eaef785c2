//! Builds the gRPC server and runs it until shutdown.
//!
//! [`service_stack`] is the one place the service stack is composed: every
//! route behind every layer. [`Parts::build`] opens the database,
//! migrates, bootstraps and makes the handler state, without a socket.
//! [`Application::build`] adds the listeners; [`Application::run_until_stopped`]
//! serves the stack until the shutdown future completes, then stops
//! accepting and lets in-flight calls finish. Integration tests build it on
//! port 0 and read [`Application::local_addr`]; unit tests drive the same
//! stack in process (`server::in_process`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tonic_web::GrpcWebLayer;
use tower::layer::util::{Identity as NoLayer, Stack};
use tower::util::Either;
use tower::{Layer, ServiceBuilder};
use tower_http::cors::CorsLayer;

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
/// the message limits. From this one list come the routes and the names
/// health reports on; a test checks it against the protos.
macro_rules! pulse_services {
    ($routes:expr, $state:expr; $($server:ident($api:ident)),* $(,)?) => {{
        let routes = $routes;
        $(let routes = routes.add_service(
            $server::new($api::new($state.clone()))
                .max_decoding_message_size(limits::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(limits::MAX_MESSAGE_BYTES),
        );)*
        let names = vec![$(<$server<$api> as tonic::server::NamedService>::NAME),*];
        (routes, names)
    }};
}

/// Every service of routes built by [`pulse_services!`], in one place.
macro_rules! all_pulse_services {
    ($routes:expr, $state:expr) => {
        pulse_services!($routes, $state;
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

/// What the service stack is built from besides the handler state: the
/// layers' own parts and settings.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The per-peer failed-authentication limit.
    pub failed_auth: Arc<FailedAuthLimiter>,
    /// Where RPCs and refusals are counted, when metrics are on.
    pub metrics: Option<Arc<Metrics>>,
    /// Peers whose `x-forwarded-for` is believed.
    pub trusted_proxies: Networks,
    /// The JWKS `Cache-Control: max-age` (and signing keys' standby), s.
    pub jwks_max_age: u64,
    /// CORS for the configured browser origins; `None` (off) by default.
    pub cors: Option<CorsLayer>,
    /// Whether the web console is served at `/` (`--no-console` clears it).
    pub console: bool,
}

/// The layers of the service stack. Layers run in the order added, the
/// first outermost (a tower `Stack` nests them the other way round): CORS
/// (answers preflights) → JWKS and console (plain HTTP GETs, never gRPC)
/// → gRPC-Web (a browser's call becomes a gRPC call here) → trace/metrics
/// → database gate → auth → the routes. So a gRPC-Web call is traced,
/// gated and authenticated exactly as a native one, and gets the same
/// status codes.
pub type Layers = ServiceBuilder<
    Stack<
        AuthLayer,
        Stack<
            DatabaseGate,
            Stack<
                RpcTraceLayer,
                Stack<
                    GrpcWebLayer,
                    Stack<
                        EndpointLayer<console::Console>,
                        Stack<
                            EndpointLayer<jwks::JwksEndpoint>,
                            Stack<Either<CorsLayer, NoLayer>, NoLayer>,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// The whole service stack as one tower service: every layer around every
/// route (see [`ServiceStack::into_service`]).
pub type StackService = <Layers as Layer<Routes>>::Service;

/// The gRPC service stack, built by [`service_stack`]: what the server
/// runs on each connection, and what in-process tests drive with
/// `tower::ServiceExt::oneshot`.
#[derive(Debug)]
pub struct ServiceStack {
    /// The layers, outermost first (see [`Layers`]).
    pub layers: Layers,
    /// Health, both reflection versions and every `pulse.v1` service.
    pub routes: Routes,
    /// Sets what health reports.
    pub health: HealthReporter,
    /// The `pulse.v1` services' names, as health reports on them.
    pub services: Vec<&'static str>,
}

impl ServiceStack {
    /// The layers around the routes, as one service. The server does the
    /// same (`Server::layer(layers).add_routes(routes)`) and adds only what
    /// belongs to a connection: the peer's address, the default deadline,
    /// the stream and header limits, keepalive and TLS.
    pub fn into_service(self) -> StackService {
        self.layers.service(self.routes.prepare())
    }
}

/// Builds the gRPC service stack: every route (health, reflection, every
/// `pulse.v1` service from [`all_pulse_services!`]) behind every layer
/// (see [`Layers`]). The one place the stack is composed: the server
/// serves it and tests drive it in process. `reachable` is the database
/// gate's view of the health probe (`true`: let calls through).
pub fn service_stack(
    state: &AppState,
    config: &StackConfig,
    reachable: watch::Receiver<bool>,
) -> anyhow::Result<ServiceStack> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let layers = ServiceBuilder::new()
        .option_layer(config.cors.clone())
        .layer(EndpointLayer(jwks::JwksEndpoint::new(
            state.tokens.clone(),
            state.index.clone(),
            config.jwks_max_age,
        )))
        .layer(EndpointLayer(console::Console::new(config.console)))
        .layer(GrpcWebLayer::new())
        .layer(RpcTraceLayer::new(config.metrics.clone()))
        .layer(DatabaseGate::new(reachable))
        .layer(AuthLayer::new(
            state.index.clone(),
            state.tokens.clone(),
            config.failed_auth.clone(),
            config.metrics.clone(),
            config.trusted_proxies.clone(),
        ));
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let (routes, services) = all_pulse_services!(routes, state);
    Ok(ServiceStack {
        layers,
        routes,
        health,
        services,
    })
}

/// Everything serving needs but its sockets, built from the settings:
/// the database (migrated, bootstrapped), the handler state and the
/// stack's configuration. Starts no task ([`Parts::spawn_background`]
/// does).
#[derive(Debug)]
pub struct Parts {
    /// Shared handler state.
    pub state: AppState,
    /// What the service stack is built from besides the state.
    pub stack: StackConfig,
    /// The account created on an empty database, to print once.
    pub bootstrap: Option<NewAccount>,
}

impl Parts {
    /// Connects to the database, migrates, creates the default account if
    /// the database is empty, and builds the handler state. `metrics`,
    /// when given, counts RPCs, refusals and store writes.
    pub async fn build(
        settings: &ServeSettings,
        metrics: Option<Arc<Metrics>>,
    ) -> anyhow::Result<Self> {
        let cors = cors::layer(&settings.cors_allow_origin)?;
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
        if let Some(metrics) = &metrics {
            store = store.with_observer(metrics.clone());
        }
        let bootstrap = store.prepare().await.context("migrating the database")?;
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
        Ok(Self {
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
            stack: StackConfig {
                failed_auth,
                metrics,
                trusted_proxies,
                jwks_max_age: settings.jwks_max_age,
                cors,
                console: !settings.no_console,
            },
            bootstrap,
        })
    }

    /// Starts the key index's usage writer and, on PostgreSQL, the
    /// cluster's listener and pinger (over `database_url`): other
    /// replicas' revocations are heard before anything is served.
    pub fn spawn_background(&self, database_url: &str) {
        let state = &self.state;
        state.index.spawn_usage_writer();
        state.revoker.cluster.spawn(
            state.store.clone(),
            database_url.to_owned(),
            state.index.clone(),
            state.tokens.clone(),
        );
    }

    /// The service stack over these parts (see [`service_stack`]).
    pub fn service_stack(&self, reachable: watch::Receiver<bool>) -> anyhow::Result<ServiceStack> {
        service_stack(&self.state, &self.stack, reachable)
    }
}

/// A server that is ready to serve: database migrated, port bound.
#[derive(Debug)]
pub struct Application {
    /// The bound listener (port 0 resolved).
    listener: TcpListener,
    /// The state, the stack's configuration and the bootstrap account.
    parts: Parts,
    /// TLS, when configured.
    tls: Option<ServerTlsConfig>,
    /// The metrics listener, when configured (the metrics are in `parts`).
    metrics_listener: Option<TcpListener>,
    /// Connection deadlines and keepalive.
    connections: ConnectionSettings,
    /// The connection cap, fitted to the open-file limit.
    max_connections: usize,
    /// Live events' poll and sweep periods.
    events: EventSettings,
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
        let (metrics, metrics_listener) = match settings.metrics_listen {
            Some(addr) => (
                Some(Arc::new(Metrics::default())),
                Some(metrics::bind(addr).await?),
            ),
            None => (None, None),
        };
        let parts = Parts::build(settings, metrics).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        // Listen for other replicas' revocations before serving anything.
        parts.spawn_background(settings.database.url.as_str());
        Ok(Self {
            listener,
            parts,
            tls,
            metrics_listener,
            connections: settings.connections.clone(),
            max_connections: connections::fit_connection_cap(settings.connections.max_connections),
            events: settings.events.clone(),
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
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The account created on an empty database, if this start created it.
    pub fn take_bootstrap(&mut self) -> Option<NewAccount> {
        self.parts.bootstrap.take()
    }

    /// Serves until `shutdown` completes; then stops accepting connections
    /// and waits for in-flight calls to finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        // The health watcher tells the gate whether the database answers.
        let (reachable_tx, reachable) = tokio::sync::watch::channel(true);
        let stack = self.parts.service_stack(reachable)?;
        let Parts {
            state,
            stack: config,
            ..
        } = self.parts;
        let metrics_task = match (config.metrics.clone(), self.metrics_listener) {
            (Some(metrics), Some(listener)) => {
                let (index, store) = (state.index.clone(), state.store.clone());
                let gauges = move || metrics::Gauges {
                    key_cache: index.cache_stats(),
                    pools: store.pool_stats(),
                };
                Some(tokio::spawn(metrics::serve(listener, metrics, gauges)))
            }
            _ => None,
        };
        let tls_on = self.tls.is_some();
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls).context("configuring TLS")?;
        }
        let ServiceStack {
            layers,
            routes,
            health,
            services,
        } = stack;
        // What belongs to a connection is set here; everything a request
        // meets is the stack (see `service_stack`).
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
            .layer(layers)
            .add_routes(routes);
        // Migrations are done by the time we serve.
        set_health(&health, &services, ServingStatus::Serving).await;
        let watcher = tokio::spawn(watch_database(
            state.store.clone(),
            health,
            services,
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
                    config.metrics,
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

#[cfg(test)]
pub(crate) mod in_process;
