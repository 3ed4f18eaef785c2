//! Issue 14 on the gRPC port: gRPC-Web calls from a real tonic client over
//! HTTP/1.1 (same auth, same codes as native gRPC), CORS only for the
//! configured origins, and the embedded web console with its headers.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pulse::pb;
use pulse::pb::account_service_client::AccountServiceClient;
use pulse::pb::auth_service_client::AuthServiceClient;
use tonic::Code;
use tonic_web::{GrpcWebCall, GrpcWebClientLayer, GrpcWebClientService};

use crate::both_backends;
use crate::helpers::environment;
use crate::helpers::{Backend, TestApp, assert_code, bearer, frontend, spawn_app, spawn_app_with};

/// A tonic transport speaking gRPC-Web over HTTP/1.1 only, as a browser.
type WebChannel = GrpcWebClientService<HttpClient<HttpConnector, GrpcWebCall<tonic::body::Body>>>;

fn web_channel() -> WebChannel {
    let http = HttpClient::builder(TokioExecutor::new()).build_http();
    tower::ServiceBuilder::new()
        .layer(GrpcWebClientLayer::new())
        .service(http)
}

fn origin(app: &TestApp) -> http::Uri {
    format!("http://{}", app.addr).parse().unwrap()
}

fn web_auth(app: &TestApp) -> AuthServiceClient<WebChannel> {
    AuthServiceClient::with_origin(web_channel(), origin(app))
}

/// A frontend call (publishable key + user token) and an admin call made
/// over gRPC-Web answer as over native gRPC; bad credentials get
/// UNAUTHENTICATED both ways.
async fn grpc_web_calls_are_authenticated_like_native(backend: Backend) {
    let app = spawn_app(backend).await;
    let env = environment(&app, "Production").await;
    let token = app
        .as_secret(&env.sk)
        .mint_user_token("alice")
        .await
        .unwrap()
        .token;

    let native = app
        .as_frontend(&env.pk, Some(&token))
        .whoami()
        .await
        .unwrap();
    let web = web_auth(&app)
        .who_am_i(frontend(pb::WhoAmIRequest {}, &env.pk, Some(&token)))
        .await
        .expect("a gRPC-Web frontend call with a user token")
        .into_inner();
    assert_eq!(web, native);

    // An admin RPC of another service, with the admin token; the audit
    // request id comes back in the headers.
    let account = AccountServiceClient::with_origin(web_channel(), origin(&app))
        .get_account(bearer(pb::GetAccountRequest {}, &app.admin_token))
        .await
        .expect("a gRPC-Web admin call");
    assert!(account.metadata().get("x-request-id").is_some());
    assert_eq!(account.into_inner().id, app.account_id);

    // Bad credentials: the same code natively and over gRPC-Web.
    let bad_token = format!("{token}x");
    for (pk, user_token) in [
        (env.pk.as_str(), Some(bad_token.as_str())),
        ("pk_nope", Some(token.as_str())),
        (env.pk.as_str(), Some("not-a-token")),
    ] {
        assert_code(
            app.as_frontend(pk, user_token).whoami().await,
            Code::Unauthenticated,
        );
        assert_code(
            web_auth(&app)
                .who_am_i(frontend(pb::WhoAmIRequest {}, pk, user_token))
                .await,
            Code::Unauthenticated,
        );
    }
    assert_code(
        web_auth(&app).who_am_i(pb::WhoAmIRequest {}).await,
        Code::Unauthenticated,
    );
    // A publishable key alone may not call an admin RPC: refused with the
    // same code either way.
    let native = app
        .as_frontend(&env.pk, None)
        .get_account()
        .await
        .unwrap_err();
    let web = AccountServiceClient::with_origin(web_channel(), origin(&app))
        .get_account(frontend(pb::GetAccountRequest {}, &env.pk, None))
        .await
        .unwrap_err();
    assert_ne!(native.code(), Code::Ok);
    assert_eq!(web.code(), native.code(), "{web:?} vs {native:?}");
    assert_eq!(web.message(), native.message());
}

both_backends!(grpc_web_calls_are_authenticated_like_native);

/// An HTTP/1.1 response, body collected.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// One plain HTTP/1.1 request.
async fn http1(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> Answer {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", app.addr));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from_static(body))).unwrap();
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(10), client.request(request))
            .await
            .expect("the server answers")
            .expect("an HTTP response");
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A CORS preflight for a gRPC-Web call from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> Answer {
    http1(
        app,
        Method::OPTIONS,
        "/pulse.v1.AuthService/WhoAmI",
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-grpc-web,x-user-agent,authorization,x-pulse-publishable-key,grpc-timeout",
            ),
        ],
        b"",
    )
    .await
}

/// A raw gRPC-Web `WhoAmI` without credentials (an empty message: one
/// uncompressed frame of length 0).
async fn raw_grpc_web(app: &TestApp, origin: &str) -> Answer {
    http1(
        app,
        Method::POST,
        "/pulse.v1.AuthService/WhoAmI",
        &[
            ("origin", origin),
            ("content-type", "application/grpc-web+proto"),
            ("x-grpc-web", "1"),
        ],
        &[0, 0, 0, 0, 0],
    )
    .await
}

/// Without `--cors-allow-origin` no origin is allowed; with it, exactly
/// the named origin gets preflights answered and `grpc-status` exposed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_exact_when_set() {
    let app = spawn_app(Backend::Sqlite).await;
    let answer = preflight(&app, "http://evil.example").await;
    assert_eq!(answer.header("access-control-allow-origin"), None);
    let answer = raw_grpc_web(&app, "http://evil.example").await;
    assert_eq!(answer.header("access-control-allow-origin"), None);
    assert_eq!(answer.header("grpc-status"), Some("16"), "UNAUTHENTICATED");
    drop(app);

    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.cors_allow_origin = vec!["http://console.example".parse().unwrap()];
    })
    .await;
    let answer = preflight(&app, "http://console.example").await;
    assert!(answer.status.is_success(), "{}", answer.status);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("http://console.example")
    );
    let allowed = answer
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "content-type",
        "authorization",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "x-pulse-publishable-key",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    assert!(
        answer
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert_eq!(answer.header("access-control-allow-credentials"), None);

    let answer = raw_grpc_web(&app, "http://console.example").await;
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("http://console.example")
    );
    assert_eq!(answer.header("grpc-status"), Some("16"));
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{name} not in {exposed}");
    }

    // Other origins, even close ones, get nothing.
    for other in [
        "http://evil.example",
        "https://console.example",
        "http://console.example:8080",
    ] {
        let answer = preflight(&app, other).await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{other}"
        );
    }
}

/// A malformed origin stops the server at start with a clear message (the
/// settings hold parsed origins: it cannot even be represented).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_cors_origin_is_refused_at_start() {
    let (url, _dir) = crate::helpers::fresh_database(Backend::Sqlite).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--cors-allow-origin",
            "https://console.example/",
        ])
        .env("PULSE_MASTER_KEY", crate::helpers::test_master_key())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a trailing slash never matches an Origin"
    );
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("--cors-allow-origin"), "{message}");
    assert!(message.contains("https://console.example/"), "{message}");
    assert!(
        "https://console.example/"
            .parse::<pulse::domain::origin::Origin>()
            .is_err(),
        "and no code can make one"
    );
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The Content-Type a console file must have.
fn expected_type(name: &str) -> Option<&'static str> {
    let extension = name.rsplit_once('.')?.1;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// `/` is the console's index.html with its security headers, every
/// embedded file has its type, revalidation works, and nothing else of
/// the port changed: unknown pages are 404, the JWKS and gRPC still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_served_at_the_root_with_its_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let index = http1(&app, Method::GET, "/", &[], b"").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.header("content-security-policy"), Some(CSP));
    assert_eq!(index.header("x-frame-options"), Some("DENY"));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(index.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    let html = String::from_utf8_lossy(&index.body).to_ascii_lowercase();
    assert!(html.contains("<html"), "{html}");

    // Revalidation by ETag; HEAD has the headers and no body.
    let etag = index.header("etag").expect("an ETag").to_owned();
    let again = http1(&app, Method::GET, "/", &[("if-none-match", &etag)], b"").await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let head = http1(&app, Method::HEAD, "/index.html", &[], b"").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(
        head.header("content-length"),
        Some(index.body.len().to_string().as_str())
    );

    // Every embedded file, with its type (app.js: JavaScript).
    let files: Vec<String> = pulse::server::console::files().collect();
    assert!(files.iter().any(|f| f == "index.html"), "{files:?}");
    for name in &files {
        let answer = http1(&app, Method::GET, &format!("/{name}"), &[], b"").await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");
        assert_eq!(
            answer.header("content-security-policy"),
            Some(CSP),
            "{name}"
        );
        if let Some(expected) = expected_type(name) {
            assert_eq!(answer.header("content-type"), Some(expected), "{name}");
        }
        if name.ends_with(".js") {
            assert!(
                answer
                    .header("content-type")
                    .unwrap()
                    .contains("javascript"),
                "{name}"
            );
        }
    }

    // Unknown pages are 404; the JWKS layer still answers its paths.
    for path in [
        "/nope",
        "/app.js.map.missing",
        "/../Cargo.toml",
        "/pulse.v1.AuthService/WhoAmI",
    ] {
        let answer = http1(&app, Method::GET, path, &[], b"").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    let jwks = http1(&app, Method::GET, "/.well-known/jwks.json", &[], b"").await;
    assert_eq!(jwks.status, StatusCode::NOT_FOUND);
    assert_eq!(jwks.header("content-type"), Some("application/json"));
    let env = environment(&app, "Production").await;
    let jwks = http1(
        &app,
        Method::GET,
        &format!("/v1/environments/{}/jwks.json", env.id),
        &[],
        b"",
    )
    .await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(jwks.header("content-type"), Some("application/json"));

    // Native gRPC and gRPC-Web still work on the same port.
    app.as_secret(&env.sk).whoami().await.unwrap();
    web_auth(&app)
        .who_am_i(bearer(pb::WhoAmIRequest {}, &env.sk))
        .await
        .unwrap();
}

/// `--no-console`: `/` and the files are 404; the API is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_console_answers_404() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.no_console = true).await;
    for path in ["/", "/index.html"] {
        let answer = http1(&app, Method::GET, path, &[], b"").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!String::from_utf8_lossy(&answer.body).contains("<html"));
    }
    let env = environment(&app, "Production").await;
    web_auth(&app)
        .who_am_i(bearer(pb::WhoAmIRequest {}, &env.sk))
        .await
        .unwrap();
}

/// gRPC-Web calls pass the trace/metrics layer as gRPC calls: counted
/// by method and code, refusals included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_calls_are_counted_in_metrics() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let env = environment(&app, "Production").await;
    for _ in 0..2 {
        web_auth(&app)
            .who_am_i(bearer(pb::WhoAmIRequest {}, &env.sk))
            .await
            .unwrap();
    }
    assert_code(
        web_auth(&app).who_am_i(pb::WhoAmIRequest {}).await,
        Code::Unauthenticated,
    );
    let text = crate::metrics::scrape(app.metrics_addr.unwrap());
    let calls = |code: &str| {
        crate::metrics::sample(
            &text,
            &format!(
                "pulse_rpc_requests_total{{service=\"pulse.v1.AuthService\",method=\"WhoAmI\",code=\"{code}\"}}"
            ),
        )
    };
    assert_eq!(calls("Ok"), 2.0);
    assert_eq!(calls("Unauthenticated"), 1.0);
}
