//! The process's own logs (to stderr, text or JSON) and traces (OTLP, when configured).
//!
//! Logs go to stderr so stdout stays free for the `debug` exporter's output.

use std::io::IsTerminal;

use kafka_obs_config::{LogEncoding, TelemetrySettings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes the trace pipeline on drop of the process.
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Guard {
    pub fn shutdown(self) {
        if let Some(p) = self.provider {
            let _ = p.shutdown();
        }
    }
}

pub fn init(settings: &TelemetrySettings) -> Result<Guard, String> {
    // RUST_LOG, when set, wins: it is the operator's escape hatch.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.logs.level))
        .map_err(|e| format!("service.telemetry.logs.level: {e}"))?;

    let provider = match &settings.traces.otlp {
        Some(otlp) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(otlp.endpoint.clone())
                .build()
                .map_err(|e| format!("service.telemetry.traces: {e}"))?;
            let mut resource =
                opentelemetry_sdk::Resource::builder().with_service_name("kafka-obs");
            for (k, v) in &settings.resource {
                resource =
                    resource.with_attribute(opentelemetry::KeyValue::new(k.clone(), v.clone()));
            }
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.build())
                    .build(),
            )
        }
        None => None,
    };
    let otel_layer = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("kafka-obs")));

    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let result = match settings.logs.encoding {
        LogEncoding::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogEncoding::Console => registry
            .with(
                tracing_subscriber::fmt::layer()
                    // Colour only for a terminal: log files and `kubectl logs` get plain text.
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|e| e.to_string())?;
    Ok(Guard { provider })
}
