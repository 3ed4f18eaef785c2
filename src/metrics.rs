//! Prometheus metrics, served on `--metrics-listen` (off by default).
//!
//! prometheus-client is the Prometheus project's own Rust client: typed
//! label sets, OpenMetrics text encoding, no global registry (each
//! [`Metrics`] has its own, so several servers in one test process do not
//! share counters). When metrics are off nothing is recorded at all.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::PoolStats;

/// Labels of one RPC outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    service: String,
    method: String,
    code: String,
}

/// Why an authentication failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// A connection pool.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

/// A store write's operation and outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    op: &'static str,
    outcome: &'static str,
}

/// A store write's operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

/// A cache outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

type HistogramFamily = Family<RpcLabels, Histogram, fn() -> Histogram>;
type WriteHistogramFamily = Family<WriteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s: from a cache-hit call to a slow database.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_duration: HistogramFamily,
    auth_failures: Family<ReasonLabels, Counter>,
    key_cache: Family<CacheLabels, Gauge>,
    pool: Family<PoolLabels, Gauge>,
    connections: Gauge,
    connections_closed: Family<ReasonLabels, Counter>,
    write_duration: WriteHistogramFamily,
    write_retries: Family<OpLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pulse");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "gRPC calls by service, method and status code",
            rpc_requests.clone(),
        );
        let rpc_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "rpc_duration_seconds",
            "gRPC call latency by service, method and status code",
            rpc_duration.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Refused authentications by reason (missing, malformed, unknown_or_revoked, \
             bad_user_token, permission_denied, rate_limited)",
            auth_failures.clone(),
        );
        let key_cache = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "key_cache_lookups",
            "Credential resolutions served from memory (hit) or the database (miss), since start",
            key_cache.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by pool (read, write) and state (open, idle, max)",
            pool.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open on the gRPC port",
            connections.clone(),
        );
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Client connections the server closed, by reason (shed, handshake_timeout, idle_timeout)",
            connections_closed.clone(),
        );
        let write_duration: WriteHistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "store_write_duration_seconds",
            "Write transactions by operation and outcome (ok, or the error's code), retries included",
            write_duration.clone(),
        );
        let write_retries = Family::<OpLabels, Counter>::default();
        registry.register(
            "store_write_retries",
            "Write transactions run again after a transient failure (busy, serialization, lost connection)",
            write_retries.clone(),
        );
        Self {
            registry,
            write_duration,
            write_retries,
            rpc_requests,
            rpc_duration,
            auth_failures,
            key_cache,
            pool,
            connections,
            connections_closed,
        }
    }
}

/// The (service, method) labels of a request path: only RPCs this server
/// serves, from its descriptors, so label sets are bounded whatever paths
/// callers send; anything else is counted as `unknown`/`unknown`.
fn known_rpc(path: &str) -> (&'static str, &'static str) {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static KNOWN: OnceLock<HashMap<String, (String, String)>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        use prost::Message;
        let mut known = HashMap::new();
        for set in [
            crate::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    let full = format!("{}.{}", file.package(), service.name());
                    for method in &service.method {
                        known.insert(
                            format!("/{full}/{}", method.name()),
                            (full.clone(), method.name().to_owned()),
                        );
                    }
                }
            }
        }
        known
    });
    known
        .get(path)
        .map_or(("unknown", "unknown"), |(s, m)| (s.as_str(), m.as_str()))
}

impl crate::store::WriteObserver for Metrics {
    fn observe(
        &self,
        op: crate::store::Op,
        elapsed: std::time::Duration,
        outcome: crate::store::Outcome,
        retries: u32,
    ) {
        let op = op.as_str();
        let labels = WriteLabels {
            op,
            outcome: outcome.as_str(),
        };
        self.write_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if retries > 0 {
            self.write_retries
                .get_or_create(&OpLabels { op })
                .inc_by(u64::from(retries));
        }
    }
}

impl Metrics {
    /// Records one finished RPC (`path` is `/package.Service/Method`).
    pub fn rpc(&self, path: &str, code: tonic::Code, seconds: f64) {
        let (service, method) = known_rpc(path);
        let labels = RpcLabels {
            service: service.to_owned(),
            method: method.to_owned(),
            code: format!("{code:?}"),
        };
        self.rpc_requests.get_or_create(&labels).inc();
        self.rpc_duration.get_or_create(&labels).observe(seconds);
    }

    /// A client connection was accepted.
    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    /// An accepted client connection ended.
    pub fn connection_dropped(&self) {
        self.connections.dec();
    }

    /// The server closed (or refused) a connection, and why.
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Records a refused authentication.
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// The metrics in the Prometheus text format, with `gauges` read now.
    pub fn render(&self, gauges: &Gauges) -> String {
        let (hits, misses) = gauges.key_cache;
        for (result, n) in [("hit", hits), ("miss", misses)] {
            self.key_cache
                .get_or_create(&CacheLabels { result })
                .set(n as i64);
        }
        for stats in &gauges.pools {
            for (state, n) in [
                ("open", stats.open),
                ("idle", stats.idle),
                ("max", stats.max),
            ] {
                self.pool
                    .get_or_create(&PoolLabels {
                        pool: stats.pool,
                        state,
                    })
                    .set(i64::from(n));
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Values read from their owners at each scrape (the server passes a
/// closure that reads them, so this module depends on neither).
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Credential resolutions (served from memory, read from the database).
    pub key_cache: (u64, u64),
    /// The connection pools.
    pub pools: Vec<PoolStats>,
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    gauges: impl Fn() -> Gauges + Clone + Send + Sync + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let body = metrics.render(&gauges());
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    );
    axum::serve(listener, app).await
}

/// Binds the metrics listener (so a bad address fails the start).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr}"))
}
