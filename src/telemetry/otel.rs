//! OpenTelemetry trace export over OTLP/gRPC (cargo feature `otel`).
//!
//! Each RPC becomes a server span named after its method, with
//! `rpc.grpc.status_code`; spans are batched and sent to
//! `--otlp-endpoint`. The wire caps of the log filter apply to spans too,
//! so no header-bearing span of a dependency is exported.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// Flushes and stops the exporter when dropped (end of `main`).
#[derive(Debug)]
pub struct Guard(SdkTracerProvider);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

/// A tracing layer exporting to `endpoint` (e.g. `http://127.0.0.1:4317`).
pub fn layer<S>(endpoint: &str) -> anyhow::Result<(impl Layer<S>, Guard)>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("pulse").build())
        .build();
    let tracer = provider.tracer("pulse");
    Ok((
        tracing_opentelemetry::layer().with_tracer(tracer),
        Guard(provider),
    ))
}
