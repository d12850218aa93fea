//! OTLP export of the spans (feature `otlp`, off by default): on when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. OTLP over
//! HTTP with protobuf, batched on the SDK's own thread with its blocking client; the service
//! name is `OTEL_SERVICE_NAME`, else `airssys-wasm`.

use anyhow::{Context, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The running exporter; flushed when the command ends.
#[derive(Debug)]
pub struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Sends what is batched and stops.
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("airssys-wasm: the OTLP exporter did not flush: {e}");
        }
    }
}

/// The spans exported: every `airssys` target at INFO (the per-message `handle` spans
/// among them), whatever `RUST_LOG` says about the log lines.
fn exported() -> Targets {
    Targets::new().with_target("airssys", tracing::Level::INFO)
}

/// The layer that exports, if an endpoint is configured.
pub fn layer<S>() -> Result<(Option<Box<dyn Layer<S> + Send + Sync>>, Option<Exporter>)>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if !configured {
        return Ok((None, None));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .context("cannot set up the OTLP span exporter")?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "airssys-wasm".into());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    let tracer = provider.tracer("airssys-wasm");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(exported())
        .boxed();
    Ok((Some(layer), Some(Exporter(provider))))
}
