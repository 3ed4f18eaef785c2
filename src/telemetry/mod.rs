//! Tracing, set up once per process.
//!
//! The filter comes from `RUST_LOG` (default `info`). Wire-level crates
//! (h2, hyper, tower, sqlx) are capped at `info` whatever `RUST_LOG` says:
//! their trace output can carry request headers, and headers carry
//! credentials. Per-RPC spans are at `debug`, so the default level costs
//! nothing per request.

use std::sync::Arc;

use crate::metrics::Metrics;
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// Directives that always apply after the user's, so no third-party crate
/// can log request headers.
const WIRE_CAPS: &[&str] = &[
    "h2=info",
    "hyper=info",
    "hyper_util=info",
    "tower=info",
    "sqlx=warn",
];

/// Builds the filter: `RUST_LOG` or `default`, plus the wire caps.
pub fn filter(default: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    for cap in WIRE_CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(feature = "otel")]
mod otel;

/// Keeps trace export running; flushes it when dropped. Hold it until the
/// process ends.
#[derive(Debug, Default)]
pub struct Guard {
    #[cfg(feature = "otel")]
    _otel: Option<otel::Guard>,
}

/// Colour only for a person at a terminal: never when stderr is a file or
/// a pipe (log files and shippers would get escape codes), and never with
/// `NO_COLOR` set to anything non-empty (<https://no-color.org>).
fn use_colour() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// Whether RPCs get spans (trace export is on).
static SPANS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs the global subscriber writing to stderr, and the OpenTelemetry
/// exporter when `otlp_endpoint` is set (cargo feature `otel`). Call once,
/// from `main`.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> Guard {
    #[allow(unused_mut)]
    let mut guard = Guard::default();
    #[cfg(feature = "otel")]
    let otel_layer = match otlp_endpoint.map(otel::layer) {
        Some(Ok((layer, otel_guard))) => {
            guard._otel = Some(otel_guard);
            SPANS.store(true, std::sync::atomic::Ordering::Relaxed);
            Some(layer)
        }
        Some(Err(err)) => {
            eprintln!("warning: OpenTelemetry export disabled: {err:#}");
            None
        }
        None => None,
    };
    #[cfg(not(feature = "otel"))]
    if otlp_endpoint.is_some() {
        eprintln!("warning: --otlp-endpoint ignored: this build has no `otel` feature");
    }
    let registry = tracing_subscriber::registry().with(filter("info"));
    #[cfg(feature = "otel")]
    let registry = registry.with(otel_layer);
    let result = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_ansi(use_colour())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    guard
}

/// Whether RPCs get spans (only when traces are exported).
pub fn spans_enabled() -> bool {
    SPANS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Tower layer that gives every RPC one `debug` span-like event with its
/// method, gRPC code and latency, and records it in the metrics when they
/// are on. At the default `info` level without metrics it costs one
/// `Instant::now()` and a disabled-callsite check.
#[derive(Clone, Debug, Default)]
pub struct RpcTraceLayer {
    metrics: Option<Arc<Metrics>>,
}

impl RpcTraceLayer {
    /// A layer that also records into `metrics`, if given.
    pub fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for RpcTraceLayer {
    type Service = RpcTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTrace {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service produced by [`RpcTraceLayer`].
#[derive(Clone, Debug)]
pub struct RpcTrace<S> {
    inner: S,
    metrics: Option<Arc<Metrics>>,
}

impl<S, B> tower::Service<http::Request<B>> for RpcTrace<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let enabled = tracing::enabled!(tracing::Level::DEBUG);
        let metrics = self.metrics.clone();
        let method = (enabled || metrics.is_some()).then(|| request.uri().path().to_owned());
        let start = std::time::Instant::now();
        let span = spans_enabled().then(|| {
            let path = request.uri().path();
            tracing::info_span!(
                "rpc",
                otel.name = %path,
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.method = %path,
                rpc.grpc.status_code = tracing::field::Empty,
            )
        });
        let future = {
            let _entered = span.as_ref().map(tracing::Span::enter);
            self.inner.call(request)
        };
        Box::pin(async move {
            let response = match &span {
                Some(span) => tracing::Instrument::instrument(future, span.clone()).await?,
                None => future.await?,
            };
            if let Some(span) = &span {
                span.record("rpc.grpc.status_code", grpc_code(&response));
            }
            if let Some(method) = method {
                let code = grpc_code(&response);
                let elapsed = start.elapsed();
                tracing::debug!(
                    rpc.method = %method,
                    rpc.code = ?tonic::Code::from_i32(code),
                    latency_us = elapsed.as_micros() as u64,
                    "rpc"
                );
                if let Some(metrics) = metrics {
                    metrics.rpc(&method, tonic::Code::from_i32(code), elapsed.as_secs_f64());
                }
            }
            Ok(response)
        })
    }
}

/// The gRPC status code of a response. Errors are trailers-only responses:
/// the code is in the headers. Absent means OK (or a streamed error).
fn grpc_code(response: &http::Response<tonic::body::Body>) -> i32 {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}
