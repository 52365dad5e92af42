//! `kafka-obs`: the command line. Parses arguments, loads the configuration, sets up the
//! process's own logs and traces, runs the service until SIGINT/SIGTERM (reloading the
//! configuration on SIGHUP), and maps every outcome to an exit code with a one-paragraph
//! explanation.

mod demo;
mod logging;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kafka_obs::components;
use kafka_obs_api::Telemetry;
use kafka_obs_config::{Config, ConfigErrors};
use kafka_obs_runtime::{AfterReload, ReloadableService, ShutdownReport};

/// Exit codes: 0 ok; 1 invalid configuration; 3 could not start; 4 stopped with failures.
const EXIT_CONFIG: u8 = 1;
const EXIT_START: u8 = 3;
const EXIT_FAILED: u8 = 4;

#[derive(Parser, Debug)]
#[command(
    name = "kafka-obs",
    version,
    about = "Semantic observability for Kafka microservices: an OpenTelemetry-compatible collector that reads JMX without a JVM",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Configuration file(s); several are deep-merged in order.
    #[arg(long = "config", short = 'c', value_name = "FILE", global = true)]
    config: Vec<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the configuration without starting anything; exit code 0 when valid.
    Validate,
    /// List every component type with its signals and stability.
    Components,
    /// Print the merged, env-expanded configuration, with secrets (passwords, tokens,
    /// credential headers, private keys) shown as [REDACTED].
    PrintConfig {
        /// Show secrets as written.
        #[arg(long)]
        unredacted: bool,
    },
    /// Play the seed's demo: service JVMs, a sidecar per service, the central hierarchy and
    /// its web view, through normal traffic, trouble and recovery (needs a JDK).
    Demo(demo::DemoArgs),
}

fn load(files: &[PathBuf]) -> Result<Config, ConfigErrors> {
    kafka_obs_config::load(files, &components::registry())
}

/// Counts allocated and freed bytes (two relaxed-cost atomic adds per allocation), so the live
/// heap is known: the `memory_limiter` limits it, as the Collector's limits Go's heap
/// (`kafka_obs_api::heap` says why not RSS).
#[global_allocator]
static ALLOCATOR: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn live_heap_bytes() -> u64 {
    // A realloc's growth or shrink is already in these two; `bytes_reallocated` repeats it.
    let s = ALLOCATOR.stats();
    s.bytes_allocated.saturating_sub(s.bytes_deallocated) as u64
}

fn main() -> ExitCode {
    kafka_obs_api::heap::install_reader(live_heap_bytes);
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Components) => {
            print!("{}", components::table(&components::registry()));
            ExitCode::SUCCESS
        }
        Some(Command::Validate) => match load(&cli.config) {
            Ok(config) => {
                for (key, why) in components::unneeded_keys(&config) {
                    eprintln!("warning: {key}: accepted but not needed: {why}");
                }
                println!(
                    "configuration is valid: {} pipeline(s), {} receiver(s), {} processor(s), {} exporter(s), {} extension(s)",
                    config.pipelines.len(),
                    config.receivers.len(),
                    config.processors.len(),
                    config.exporters.len(),
                    config.extensions.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Some(Command::PrintConfig { unredacted }) => match load(&cli.config) {
            Ok(config) => match serde_yaml_ng::to_string(&if unredacted {
                config.document
            } else {
                kafka_obs_config::redact(&config.document)
            }) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot print the configuration: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
            },
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Some(Command::Demo(args)) => demo::run(args),
        None => run(&cli.config),
    }
}

fn run(files: &[PathBuf]) -> ExitCode {
    let config = match load(files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = sidecar_workers(&config) {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_START);
        }
    };
    runtime.block_on(async move {
        let guard = match logging::init(&config.telemetry) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("cannot set up logging: {e}");
                return ExitCode::from(EXIT_START);
            }
        };
        let signals = match signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot install the signal handlers: {e}");
                guard.shutdown();
                return ExitCode::from(EXIT_START);
            }
        };
        warn_unneeded_keys(&config);
        let telemetry = Telemetry::new();
        let service = match ReloadableService::start(config, &telemetry) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "could not start");
                eprintln!("kafka-obs could not start: {e}");
                guard.shutdown();
                return ExitCode::from(EXIT_START);
            }
        };
        let report = serve(service, files, &signals).await;
        let code = if report.failed.is_empty() {
            tracing::info!("stopped cleanly");
            ExitCode::SUCCESS
        } else {
            for (component, error) in &report.failed {
                tracing::error!(component = %component, error = %error, "component had failed");
            }
            ExitCode::from(EXIT_FAILED)
        };
        guard.shutdown();
        code
    })
}

/// Collector keys a configuration may carry that have no effect here, at start and at reload.
fn warn_unneeded_keys(config: &Config) {
    for (key, why) in components::unneeded_keys(config) {
        tracing::warn!(key = %key, why, "a Collector key that kafka-obs does not need; it has no effect");
    }
}

/// Runs until a stop signal, reloading on each (coalesced) SIGHUP; returns how it stopped.
async fn serve(
    mut service: ReloadableService,
    files: &[PathBuf],
    signals: &signals::Signals,
) -> ShutdownReport {
    loop {
        tokio::select! {
            biased;
            _ = signals.stop.cancelled() => return service.shutdown().await,
            _ = signals.reload.notified() => {}
        }
        // Loading may take a while for a large file: off the async workers, and a stop
        // request meanwhile wins.
        let owned = files.to_vec();
        let loading = tokio::task::spawn_blocking(move || load(&owned));
        let loaded = tokio::select! {
            loaded = loading => loaded,
            _ = signals.stop.cancelled() => return service.shutdown().await,
        };
        let Ok(loaded) = loaded else {
            tracing::error!(
                "configuration reload: loading the files panicked; the running configuration stays"
            );
            continue;
        };
        if let Ok(config) = &loaded {
            warn_unneeded_keys(config);
        }
        service = match service.reload(loaded, &signals.stop).await {
            AfterReload::Running(service, _) => *service,
            AfterReload::Stopped(report) => return report,
        };
    }
}

/// A sidecar, where every receiver polls JMX (or reads its own cgroup, a few small files per
/// poll on the blocking pool), runs on one worker thread: one core polls about
/// 3000 JVMs every 10 s (BENCHMARKS.md, "Targets per core"), and each further worker adds its
/// stack and a malloc arena to the RSS (BENCHMARKS.md, "Sidecar RSS and CPU"). Anything else
/// (an OTLP or Kafka intake, the central hierarchy) gets tokio's one worker per core, and
/// `TOKIO_WORKER_THREADS` overrides both.
fn sidecar_workers(config: &Config) -> Option<usize> {
    let sidecar = !config.receivers.is_empty()
        && config
            .receivers
            .keys()
            .all(|id| matches!(id.type_name(), "jmx" | "cgroup"));
    (sidecar && std::env::var_os("TOKIO_WORKER_THREADS").is_none()).then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(receivers: &str, names: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        let yaml = format!(
            "receivers:\n{receivers}exporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [{names}]\n      exporters: [debug]\n"
        );
        std::fs::write(&path, yaml).unwrap();
        load(&[path]).unwrap()
    }

    #[test]
    fn a_jmx_only_sidecar_runs_on_one_worker_anything_else_on_one_per_core() {
        if std::env::var_os("TOKIO_WORKER_THREADS").is_some() {
            return; // the override wins, by design
        }
        let jmx = "  jmx/a:\n    endpoint: 127.0.0.1:1\n    target_system: jvm\n  jmx/b:\n    endpoint: 127.0.0.1:2\n    target_system: jvm\n";
        assert_eq!(sidecar_workers(&config(jmx, "jmx/a, jmx/b")), Some(1));
        let mixed = format!("{jmx}  otlp:\n    protocols:\n      grpc:\n");
        assert_eq!(sidecar_workers(&config(&mixed, "jmx/a, jmx/b, otlp")), None);
        let with_cgroup = format!("{jmx}  cgroup:\n");
        assert_eq!(
            sidecar_workers(&config(&with_cgroup, "jmx/a, jmx/b, cgroup")),
            Some(1)
        );
    }
}
