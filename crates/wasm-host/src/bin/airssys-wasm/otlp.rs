//! OTLP export of the spans (feature `otlp`, off by default): on when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. OTLP over
//! HTTP with protobuf, batched on the SDK's own thread with its blocking client; the service
//! name is `OTEL_SERVICE_NAME`, else `airssys-wasm`. A traced message's span is exported as
//! the child of its W3C parent, with the span id the messages it causes carry.

use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use wasm_host::{SpanLink, TraceContext};

/// Whether an exporter was set up (by [`layer`]); the hosts then link their spans to it.
static EXPORTING: OnceLock<()> = OnceLock::new();

/// Makes each traced `handle` span an OpenTelemetry child of the message's W3C parent, so the
/// exported spans carry the same trace id and parent as the messages, and the messages the
/// call sends carry the exported span's id.
#[derive(Debug)]
struct OtelLink;

impl SpanLink for OtelLink {
    fn link(&self, span: &tracing::Span, parent: &TraceContext) -> Option<u64> {
        let flags = if parent.sampled() {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let remote = SpanContext::new(
            TraceId::from(parent.trace_id()),
            SpanId::from(parent.span_id()),
            flags,
            true,
            TraceState::default(),
        );
        span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
            .ok()?;
        let own = span.context().span().span_context().span_id();
        Some(u64::from_be_bytes(own.to_bytes()))
    }
}

/// The link the hosts of this command use, when spans are exported.
pub fn span_link() -> Option<Arc<dyn SpanLink>> {
    EXPORTING
        .get()
        .map(|()| Arc::new(OtelLink) as Arc<dyn SpanLink>)
}

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

/// The exporting layer, boxed (its type names the tracer).
pub type ExportLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// The layer that exports, if an endpoint is configured.
pub fn layer<S>() -> Result<(Option<ExportLayer<S>>, Option<Exporter>)>
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
    let _ = EXPORTING.set(());
    Ok((Some(layer), Some(Exporter(provider))))
}
