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

/// Installs the global subscriber writing to stderr. Call once, from `main`.
pub fn init(format: LogFormat) {
    let registry = tracing_subscriber::registry().with(filter("info"));
    let result = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
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
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            if let Some(method) = method {
                // Errors are trailers-only responses: the code is in the
                // headers. Absent means OK (or a streamed error).
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .unwrap_or(0);
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
