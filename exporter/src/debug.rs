//! Exporter `debug`: prints what flows through a pipeline to stdout, for people.
//!
//! `verbosity` is the Collector's: `basic` (one summary line per batch), `normal` (one line per
//! data point, log record or span) or `detailed` (every resource, scope and item with all its
//! fields). `sampling_initial`/`sampling_thereafter` thin the output per second as the Collector
//! does (defaults 2 and 1: everything is printed).
//!
//! Writing to stdout can block (a full pipe nobody reads). The text goes through a small bounded
//! channel to a dedicated thread that does the blocking writes, so a stuck stdout stalls only
//! this exporter: its queue fills and the runtime counts the drops, the runtime's workers stay
//! free.

mod text;

use std::io::Write;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use kafka_obs_api::{
    Batch, BuildContext, BuildError, ComponentConfig, ComponentConfigError, ComponentTelemetry,
    DataKind, Exporter, ExporterConfig, ExporterFactory, FactoryMeta, Parcel, RunContext, RunError,
    Stability, parse_component_config,
};

/// Texts waiting for the writer thread.
const WRITE_BUFFER: usize = 16;

/// Makes `debug` exporters.
pub static FACTORY: ExporterFactory = ExporterFactory::new(
    FactoryMeta {
        type_name: "debug",
        aliases: &[],
        stability: Stability::Development,
        kinds: &[DataKind::Metrics, DataKind::Logs, DataKind::Traces],
        description: "Prints batches to stdout for people (verbosity basic, normal or detailed)",
    },
    |config| Ok(Box::new(DebugExporterConfig::parse(config)?)),
);

/// How much the `debug` exporter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One summary line per batch.
    #[default]
    Basic,
    /// One line per data point, log record or span.
    Normal,
    /// Everything, field by field.
    Detailed,
}

/// The validated configuration of a `debug` exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugExporterConfig {
    pub verbosity: Verbosity,
    /// Batches printed in full each second before sampling starts.
    pub sampling_initial: u64,
    /// After that, every n-th batch is printed (0 = none).
    pub sampling_thereafter: u64,
}

impl Default for DebugExporterConfig {
    fn default() -> Self {
        Self {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
        }
    }
}

impl DebugExporterConfig {
    /// Parses the YAML body of a `debug` exporter.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        parse_component_config(value)
    }

    /// A `debug` exporter writing to `out` instead of stdout (tests, embedding).
    pub fn build_with_writer(
        &self,
        ctx: &BuildContext,
        out: Box<dyn Write + Send>,
    ) -> DebugExporter {
        DebugExporter {
            config: *self,
            out,
            telemetry: ctx.telemetry.clone(),
            id: ctx.id.to_string(),
        }
    }
}

impl ComponentConfig for DebugExporterConfig {}

impl ExporterConfig for DebugExporterConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Exporter>, BuildError> {
        Ok(Box::new(
            self.build_with_writer(ctx, Box::new(std::io::stdout())),
        ))
    }
}

/// Per-second sampling, as the Collector's logger does it.
#[derive(Debug)]
struct Sampler {
    initial: u64,
    thereafter: u64,
    window: Instant,
    seen: u64,
}

impl Sampler {
    fn admit(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.seen = 0;
        }
        self.seen += 1;
        if self.seen <= self.initial {
            return true;
        }
        self.thereafter > 0 && (self.seen - self.initial).is_multiple_of(self.thereafter)
    }
}

/// One piece of text for the writer thread, with what to count once it is written.
struct Chunk {
    text: String,
    kind: DataKind,
    items: u64,
}

/// A built `debug` exporter.
pub struct DebugExporter {
    config: DebugExporterConfig,
    out: Box<dyn Write + Send>,
    telemetry: ComponentTelemetry,
    id: String,
}

impl std::fmt::Debug for DebugExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugExporter")
            .field("config", &self.config)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DebugExporter {
    fn render(&self, batch: &Batch) -> String {
        match self.config.verbosity {
            Verbosity::Basic => text::basic(&self.id, batch),
            Verbosity::Normal => text::normal(&self.id, batch),
            Verbosity::Detailed => text::detailed(&self.id, batch),
        }
    }

    async fn export(
        self,
        mut input: mpsc::Receiver<Parcel>,
        ctx: RunContext,
    ) -> Result<(), RunError> {
        let (tx, rx) = mpsc::channel::<Chunk>(WRITE_BUFFER);
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let telemetry = self.telemetry.clone();
        let id = self.id.clone();
        let mut out = self.out;
        std::thread::Builder::new()
            .name("debug-exporter-out".into())
            .spawn(move || write_loop(&mut *out, rx, &telemetry, &id, done_tx))?;
        let renderer = DebugExporter {
            out: Box::new(std::io::sink()),
            ..self
        };
        let mut sampler = Sampler {
            initial: renderer.config.sampling_initial,
            thereafter: renderer.config.sampling_thereafter,
            window: Instant::now(),
            seen: 0,
        };
        loop {
            let batch = tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => break,
                b = input.recv() => match b.map(Parcel::accept) {
                    Some(b) => b,
                    None => {
                        // Input closed: let the writer print what it holds, unless the
                        // deadline passes first (stdout may be stuck).
                        drop(tx);
                        tokio::select! {
                            _ = done_rx => {}
                            () = ctx.shutdown.cancelled() => {}
                        }
                        return Ok(());
                    }
                },
            };
            let items = batch.item_count() as u64;
            if !sampler.admit(Instant::now()) {
                renderer.telemetry.sent(batch.kind()).add(items);
                continue;
            }
            let chunk = Chunk {
                text: renderer.render(&batch),
                kind: batch.kind(),
                items,
            };
            tokio::select! {
                biased;
                () = ctx.shutdown.cancelled() => {
                    renderer.telemetry.send_failed(batch.kind()).add(items);
                    break;
                }
                sent = tx.send(chunk) => {
                    if sent.is_err() {
                        // The writer thread ended (stdout closed); it logged why.
                        renderer.telemetry.send_failed(batch.kind()).add(items);
                    }
                }
            }
        }
        // Shutdown deadline: what is still queued will not be printed.
        input.close();
        while let Ok(batch) = input.try_recv().map(Parcel::accept) {
            renderer
                .telemetry
                .send_failed(batch.kind())
                .add(batch.item_count() as u64);
        }
        Ok(())
    }
}

/// Runs on its own thread: blocking writes never hold a runtime worker.
fn write_loop(
    out: &mut (dyn Write + Send),
    mut rx: mpsc::Receiver<Chunk>,
    telemetry: &ComponentTelemetry,
    id: &str,
    done: oneshot::Sender<()>,
) {
    while let Some(chunk) = rx.blocking_recv() {
        match out
            .write_all(chunk.text.as_bytes())
            .and_then(|()| out.flush())
        {
            Ok(()) => telemetry.sent(chunk.kind).add(chunk.items),
            Err(e) => {
                telemetry.send_failed(chunk.kind).add(chunk.items);
                tracing::error!(exporter = %id, error = %e, "cannot write to stdout; debug output stops");
                // Count everything still queued, then stop.
                rx.close();
                while let Ok(c) = rx.try_recv() {
                    telemetry.send_failed(c.kind).add(c.items);
                }
                break;
            }
        }
    }
    let _ = done.send(());
}

impl Exporter for DebugExporter {
    fn run(
        self: Box<Self>,
        input: mpsc::Receiver<Parcel>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<(), RunError>> {
        (*self).export(input, ctx).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use kafka_obs_api::ComponentKind;
    use kafka_obs_otlp_json::fixtures::{logs, metrics, traces};
    use std::sync::{Arc, Mutex};

    #[test]
    fn testdata_matches_the_typed_config() {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../testdata/debug.yaml")).expect("testdata yaml");
        let get = |id: &str| {
            DebugExporterConfig::parse(&value[id]).unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        assert_eq!(get("debug"), DebugExporterConfig::default());
        assert_eq!(
            get("debug/detailed"),
            DebugExporterConfig {
                verbosity: Verbosity::Detailed,
                sampling_initial: 10,
                sampling_thereafter: 0,
            }
        );
        let e =
            DebugExporterConfig::parse(&serde_yaml_ng::from_str("verbosity: loud").expect("yaml"))
                .expect_err("bad");
        assert_eq!(e.path, "verbosity");
        assert!(e.message.contains("basic"), "{e}");
    }

    #[test]
    fn sampling_is_per_second() {
        let t0 = Instant::now();
        let mut s = Sampler {
            initial: 2,
            thereafter: 3,
            window: t0,
            seen: 0,
        };
        let admitted: Vec<bool> = (0..8).map(|_| s.admit(t0)).collect();
        assert_eq!(
            admitted,
            [true, true, false, false, true, false, false, true]
        );
        assert!(
            s.admit(t0 + Duration::from_secs(1)),
            "a new second starts over"
        );
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn print(verbosity: Verbosity, batches: Vec<Batch>) -> (String, ComponentTelemetry) {
        let ctx = BuildContext::for_test(ComponentKind::Exporter, "debug", &DataKind::ALL);
        let telemetry = ctx.telemetry.clone();
        let config = DebugExporterConfig {
            verbosity,
            sampling_initial: 100,
            ..Default::default()
        };
        let out = Shared::default();
        let exporter = config.build_with_writer(&ctx, Box::new(out.clone()));
        let (tx, rx) = mpsc::channel(8);
        let (run_ctx, _) = ctx.run_for_test();
        let task = tokio::spawn(Box::new(exporter).run(rx, run_ctx));
        for b in batches {
            tx.send(b.into()).await.expect("open");
        }
        drop(tx);
        task.await.expect("no panic").expect("ok");
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        (text, telemetry)
    }

    #[tokio::test]
    async fn basic_is_one_line_per_batch() {
        let (text, telemetry) = print(Verbosity::Basic, vec![metrics(), logs(), traces()]).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].contains("metrics") && lines[0].contains("data points=5"),
            "{text}"
        );
        assert!(lines[1].contains("log records=1"), "{text}");
        assert!(lines[2].contains("spans=1"), "{text}");
        assert_eq!(telemetry.sent(DataKind::Metrics).get(), 5);
        assert_eq!(telemetry.sent(DataKind::Traces).get(), 1);
    }

    #[tokio::test]
    async fn normal_is_one_line_per_item() {
        let (text, _) = print(Verbosity::Normal, vec![metrics(), logs(), traces()]).await;
        let lines: Vec<&str> = text.lines().collect();
        // 5 data points, 1 log record, 1 span, each after its batch's summary line.
        assert_eq!(lines.len(), 3 + 5 + 1 + 1, "{text}");
        assert!(
            text.contains("kafka.consumer.records-lag-max{topic=orders} -5"),
            "{text}"
        );
        assert!(
            text.contains("kafka.request.time{topic=orders}")
                || text.contains("kafka.request.time count="),
            "{text}"
        );
        assert!(text.contains("consumer group lagging"), "{text}");
        assert!(
            text.contains("poll 000102030405060708090a0b0c0d0e0f 0001020304050607"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn detailed_shows_resources_scopes_and_values() {
        let (text, _) = print(Verbosity::Detailed, vec![metrics(), logs(), traces()]).await;
        for want in [
            "ResourceMetrics #0",
            "service.name: Str(orders)",
            "host.cpu: Int(9223372036854775807)",
            "InstrumentationScope kafka-obs 0.1.0",
            "Name: kafka.message.count",
            "DataType: Sum",
            "IsMonotonic: true",
            "AggregationTemporality: Cumulative",
            "Value: -9223372036854775808",
            "Timestamp: 2023-11-14T22:13:20.123456789Z",
            "ExplicitBounds #1: 10",
            "SeverityText: WARN",
            "raw: Bytes(00ff07)",
            "list: Slice([Int(1)])",
            "Trace ID: abababababababababababababababab",
            "Kind: Consumer",
            "Status code: Error",
        ] {
            assert!(text.contains(want), "lacks {want:?}:\n{text}");
        }
    }

    #[tokio::test]
    async fn a_failing_stdout_counts_failures_and_does_not_hang() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "closed",
                ))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let ctx = BuildContext::for_test(ComponentKind::Exporter, "debug", &[DataKind::Logs]);
        let telemetry = ctx.telemetry.clone();
        let exporter = DebugExporterConfig::default().build_with_writer(&ctx, Box::new(Broken));
        let (tx, rx) = mpsc::channel(8);
        let (run_ctx, _) = ctx.run_for_test();
        let task = tokio::spawn(Box::new(exporter).run(rx, run_ctx));
        tx.send(logs().into()).await.expect("open");
        tx.send(logs().into()).await.expect("open");
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("ends")
            .expect("no panic")
            .expect("ok");
        assert_eq!(telemetry.send_failed(DataKind::Logs).get(), 2);
        assert_eq!(telemetry.sent(DataKind::Logs).get(), 0);
    }
}
