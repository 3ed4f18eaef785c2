//! The service stack in process: the server's own stack
//! ([`crate::server::service_stack`]) over a real database, driven with
//! `tower::ServiceExt::oneshot` on `http::Request`s that carry gRPC frames.
//! No socket, no HTTP/2: a call is a few hundred microseconds, so the auth
//! layer, the metrics, the key index and the cluster are tested here in
//! milliseconds (the integration tests in `tests/api` stay the proof from
//! outside).
//!
//! Every test that touches the database runs on both backends
//! ([`both_backends!`]): SQLite in a temporary file, and PostgreSQL in a
//! database of its own, created in the server named by
//! `PULSE_TEST_POSTGRES_URL` (or a throwaway cluster when nothing answers
//! there) and dropped when the test ends.
//!
//! A test builds a stack over a fresh database and calls it; [`who_am_i`]
//! below is the example `docs/design.md` ("Craft pass") shows.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use tonic::Status;
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use tower::ServiceExt;

use crate::api::AppState;
use crate::config::{DatabaseSettings, ServeSettings};
use crate::metrics::{Gauges, Metrics};
use crate::pb;
use crate::server::{Parts, StackService};

mod allow;
mod cluster;
mod index;
mod labels;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// One `#[tokio::test]` per backend for each named `async fn(Backend)`.
/// PostgreSQL tests use the server at `PULSE_TEST_POSTGRES_URL`, else a
/// throwaway cluster (the integration tests' own module, included below);
/// only where PostgreSQL is not installed at all are they compiled as
/// ignored (`cfg(pulse_no_postgres)`, refused in CI).
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::server::in_process::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[cfg_attr(pulse_no_postgres, ignore = "no PostgreSQL installed")]
                async fn $name() {
                    super::$name($crate::server::in_process::Backend::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use both_backends;

#[path = "../../../tests/api/helpers/postgres.rs"]
#[allow(dead_code)]
pub(crate) mod pg;
/// Where PostgreSQL for tests is found, or started (shared with the
/// integration tests, which include the same files).
#[path = "../../../tests/api/helpers/postgres_probe.rs"]
#[allow(dead_code)]
mod postgres_probe;

/// A fresh, empty database: a SQLite file in a temporary directory, or a
/// PostgreSQL database of its own, dropped with this value.
pub(crate) struct TestDatabase {
    /// The URL a stack connects to.
    pub url: String,
    /// Keeps the SQLite file's directory alive.
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database to drop (`None` for SQLite).
    postgres: Option<String>,
}

/// The PostgreSQL server's URL for tests: the configured one, or the
/// throwaway cluster.
fn postgres_base_url() -> String {
    pg::base_url()
}

impl TestDatabase {
    /// A fresh database of `backend`.
    pub async fn fresh(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("pulse.db").display()
                );
                Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                use std::sync::atomic::{AtomicU64, Ordering};
                static N: AtomicU64 = AtomicU64::new(0);
                let name = format!(
                    "pulse_u_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                );
                execute_on_postgres(&format!("CREATE DATABASE \"{name}\"")).await;
                let base = postgres_base_url();
                let at = base.rfind('/').expect("a PostgreSQL URL with a database");
                Self {
                    url: format!("{}/{name}", &base[..at]),
                    _dir: None,
                    postgres: Some(name),
                }
            }
        }
    }
}

/// Runs one statement on the test server's own database.
async fn execute_on_postgres(sql: &str) {
    use sea_orm::ConnectionTrait;
    let base = postgres_base_url();
    let admin = sea_orm::Database::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is unreachable: {e}"));
    admin
        .execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on
        // itself: drop the database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(execute_on_postgres(&format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop a test database");
        }
    }
}

/// The master key every stack uses (two stacks over one database share it).
fn master_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| crate::auth::sealing::MasterKey::generate().1)
}

/// The address calls come from, as the server's connection would say.
pub(crate) const PEER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    40000,
);

/// The server's stack over a database, with metrics on.
pub(crate) struct TestStack {
    /// The whole stack, as the server runs it on a connection.
    pub service: StackService,
    /// The handler state under it (the key index, the store, the cluster).
    pub state: AppState,
    /// Where the stack counts RPCs and refusals.
    pub metrics: Arc<Metrics>,
    /// The bootstrap admin token, when this stack created the account.
    pub admin_token: Option<String>,
    /// Holds the gate open: the database counts as reachable.
    _reachable: tokio::sync::watch::Sender<bool>,
}

/// Waits, on PostgreSQL, until the replica's listener is up and has
/// heard the replica's own ping (its cache is trusted from then on): tests
/// that count lookups or need a revocation heard do not race the start.
async fn settle(state: &AppState) {
    if state.store.backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let cluster = &state.revoker.cluster;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !(cluster.hears_itself() && state.index.trusted()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster listener never heard itself"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// How a call authenticates.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Credential<'a> {
    /// No credential header.
    None,
    /// `authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `x-pulse-publishable-key`, with a user token as `Bearer`, or alone.
    Frontend(&'a str, Option<&'a str>),
    /// One header as given (for malformed credentials).
    Header(&'static str, &'a str),
}

/// An environment made through the stack, with its two first keys.
pub(crate) struct TestEnvironment {
    pub id: String,
    pub sk: String,
    pub pk: String,
}

/// A few paths the tests call.
pub(crate) mod paths {
    pub const WHO_AM_I: &str = "/pulse.v1.AuthService/WhoAmI";
    pub const MINT_USER_TOKEN: &str = "/pulse.v1.AuthService/MintUserToken";
    pub const LIST_SIGNING_KEYS: &str = "/pulse.v1.AuthService/ListSigningKeys";
    pub const CREATE_ENVIRONMENT: &str = "/pulse.v1.EnvironmentService/CreateEnvironment";
    pub const LIST_ENVIRONMENTS: &str = "/pulse.v1.EnvironmentService/ListEnvironments";
    pub const DELETE_ENVIRONMENT: &str = "/pulse.v1.EnvironmentService/DeleteEnvironment";
    pub const CREATE_KEY: &str = "/pulse.v1.EnvironmentService/CreateKey";
    pub const REVOKE_KEY: &str = "/pulse.v1.EnvironmentService/RevokeKey";
    pub const CREATE_ADMIN_TOKEN: &str = "/pulse.v1.AccountService/CreateAdminToken";
    pub const LIST_ROOMS: &str = "/pulse.v1.RoomService/ListRooms";
    pub const LIST_USERS: &str = "/pulse.v1.UserService/ListUsers";
}

impl TestStack {
    /// The stack over `db`, built as the server builds it: [`Parts`] from
    /// test settings, its background tasks (the cluster's listener on
    /// PostgreSQL), then [`Parts::service_stack`].
    pub async fn start(db: &TestDatabase) -> Self {
        Self::start_with(db, |_| {}).await
    }

    /// [`TestStack::start`] with adjusted settings.
    pub async fn start_with(db: &TestDatabase, adjust: impl FnOnce(&mut ServeSettings)) -> Self {
        let mut settings = ServeSettings::for_tests(
            DatabaseSettings {
                url: db.url.parse().expect("a database URL"),
                max_connections: 4,
            },
            Some(master_key().parse().expect("a master key")),
        );
        adjust(&mut settings);
        let metrics = Arc::new(Metrics::default());
        let mut parts = Parts::build(&settings, Some(metrics.clone()))
            .await
            .expect("build the parts");
        parts.spawn_background(&db.url);
        settle(&parts.state).await;
        let (reachable, gate) = tokio::sync::watch::channel(true);
        let service = parts
            .service_stack(gate)
            .expect("build the stack")
            .into_service();
        Self {
            service,
            admin_token: parts.bootstrap.take().map(|b| b.token.expose().to_owned()),
            state: parts.state,
            metrics,
            _reachable: reachable,
        }
    }

    /// The bootstrap admin token (this stack created the account).
    pub fn admin(&self) -> Credential<'_> {
        Credential::Bearer(self.admin_token.as_deref().expect("a bootstrapped stack"))
    }

    /// One unary call through the whole stack: `request` framed as gRPC,
    /// the response's message, or its status.
    pub async fn call<Q, R>(
        &self,
        path: &str,
        credential: Credential<'_>,
        request: Q,
    ) -> Result<R, Status>
    where
        Q: prost::Message,
        R: prost::Message + Default,
    {
        let response = self
            .service
            .clone()
            .oneshot(grpc_request(path, credential, &request))
            .await
            .expect("the stack answers");
        read_grpc_response(response).await
    }

    /// The status code of a call whose answer the test does not read.
    pub async fn code<Q: prost::Message>(
        &self,
        path: &str,
        credential: Credential<'_>,
        request: Q,
    ) -> tonic::Code {
        match self.call::<Q, Empty>(path, credential, request).await {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        }
    }

    /// A new environment, created by the bootstrap admin through the stack.
    pub async fn environment(&self) -> TestEnvironment {
        let created: pb::CreateEnvironmentResponse = self
            .call(
                paths::CREATE_ENVIRONMENT,
                self.admin(),
                pb::CreateEnvironmentRequest {
                    display_name: "test".into(),
                },
            )
            .await
            .expect("create an environment");
        TestEnvironment {
            id: created.environment.expect("an environment").id,
            sk: created.secret_key,
            pk: created.publishable_key.expect("a publishable key").value,
        }
    }

    /// A new key of `env` (its credential and id).
    pub async fn key(
        &self,
        env: &TestEnvironment,
        kind: pb::ApiKeyKind,
        permissions: &[&str],
    ) -> (String, String) {
        let created: pb::CreateKeyResponse = self
            .call(
                paths::CREATE_KEY,
                self.admin(),
                pb::CreateKeyRequest {
                    environment_id: env.id.clone(),
                    kind: kind as i32,
                    permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                    ..Default::default()
                },
            )
            .await
            .expect("create a key");
        let key = created.key.expect("a key");
        let credential = match kind {
            pb::ApiKeyKind::Publishable => key.value,
            _ => created.secret_key,
        };
        (credential, key.id)
    }

    /// A user token for `user_id`, minted with the secret key `sk`.
    pub async fn user_token(&self, sk: &str, user_id: &str) -> String {
        let minted: pb::MintUserTokenResponse = self
            .call(
                paths::MINT_USER_TOKEN,
                Credential::Bearer(sk),
                pb::MintUserTokenRequest {
                    user_id: user_id.into(),
                    ..Default::default()
                },
            )
            .await
            .expect("mint a user token");
        minted.token
    }

    /// The metrics as `/metrics` serves them.
    pub fn metrics_text(&self) -> String {
        self.metrics.render(&Gauges::default())
    }
}

/// Any message, for calls whose answer is not read (prost skips unknown
/// fields).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Empty {}

/// A gRPC request as a client sends it: an HTTP/2 POST, `application/grpc`, the
/// message after its 5-byte prefix (uncompressed, big-endian length), the
/// credential's headers, and the connection's peer address.
pub(crate) fn grpc_request(
    path: &str,
    credential: Credential<'_>,
    message: &impl prost::Message,
) -> http::Request<Body> {
    let mut frame = BytesMut::with_capacity(5 + message.encoded_len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.encoded_len()).expect("a small message"));
    message.encode(&mut frame).expect("room for the message");
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        // Native gRPC is HTTP/2 (the gRPC-Web layer refuses it over 1.1).
        .version(http::Version::HTTP_2)
        .uri(format!("http://pulse.test{path}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers");
    let bearer = |token: &str| format!("Bearer {token}");
    request = match credential {
        Credential::None => request,
        Credential::Bearer(token) => request.header(http::header::AUTHORIZATION, bearer(token)),
        Credential::Frontend(pk, token) => {
            let request = request.header(crate::auth::layer::PUBLISHABLE_KEY_HEADER, pk);
            match token {
                Some(token) => request.header(http::header::AUTHORIZATION, bearer(token)),
                None => request,
            }
        }
        Credential::Header(name, value) => request.header(name, value),
    };
    let mut request = request
        .body(Body::new(Full::new(frame.freeze())))
        .expect("a request");
    request.extensions_mut().insert(TcpConnectInfo {
        local_addr: None,
        remote_addr: Some(PEER),
    });
    request
}

/// The message of a gRPC response, or its status: from the headers of a
/// trailers-only response (how errors come), else from the trailers after
/// the body.
pub(crate) async fn read_grpc_response<R: prost::Message + Default>(
    response: http::Response<Body>,
) -> Result<R, Status> {
    if let Some(status) = Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    let collected = response
        .into_body()
        .collect()
        .await
        .expect("a response body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let status = Status::from_header_map(&trailers).expect("a grpc-status trailer");
    if status.code() != tonic::Code::Ok {
        return Err(status);
    }
    let mut body: Bytes = collected.to_bytes();
    assert!(body.len() >= 5, "a framed message");
    assert_eq!(body.get_u8(), 0, "an uncompressed message");
    let len = body.get_u32() as usize;
    assert_eq!(body.len(), len, "one message");
    Ok(R::decode(body).expect("a message"))
}

/// The example of `docs/design.md`: a call, a refusal, its metric.
async fn who_am_i(backend: Backend) {
    use paths::WHO_AM_I;
    let db = TestDatabase::fresh(backend).await;
    let stack = TestStack::start(&db).await;
    let env = stack.environment().await; // CreateEnvironment as the owner
    let me: pb::WhoAmIResponse = stack
        .call(WHO_AM_I, Credential::Bearer(&env.sk), pb::WhoAmIRequest {})
        .await
        .unwrap();
    assert_eq!(me.environment_id, env.id);
    let refused = stack.code(WHO_AM_I, Credential::None, pb::WhoAmIRequest {});
    assert_eq!(refused.await, tonic::Code::Unauthenticated);
    assert!(
        stack
            .metrics_text()
            .contains(r#"pulse_auth_failures_total{reason="missing"} 1"#)
    );
}
both_backends!(who_am_i);
