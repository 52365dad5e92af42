//! `kafka-obs demo`: the seed's demo plan in one command.
//!
//! It compiles the embedded scenario program with the machine's `javac`, starts three JVMs
//! (order-service, inventory-service and broker-1, each with a loopback JMX agent), writes a
//! configuration with a sidecar pipeline per JVM and the central `hierarchy` in the same
//! process, starts it like `kafka-obs --config` would, and plays the story (story.rs) by
//! switching the JVMs' phases. The terminal shows the story's progress, the situation per
//! service and the open incidents from the central API, and the newest signals; it announces
//! when the tree is green again and when each incident closes, and ends the story with a
//! verdict on the recovery (summary.rs, `Milestones`). The web view shows the live tree.
//! Ctrl-C stops everything; `--exit-after-story` stops after recovery.

mod applog;
mod cgroup;
mod config;
mod jvm;
mod story;
mod summary;

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use kafka_obs_api::{HealthRegistry, Telemetry};
use kafka_obs_runtime::Service;

use config::Via;
use jvm::{ServiceJvm, Spec};
use story::{BROKER, INVENTORY, ORDER};

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Play the story this many times faster (the JMX poll interval shrinks with it).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Address of the web view and the central JSON API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    web: SocketAddr,
    /// How the sidecars reach the central side.
    #[arg(long, value_enum, default_value_t = Transport::Memory)]
    via: Transport,
    /// Kafka bootstrap servers for `--via kafka`.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The signals topic for `--via kafka`.
    #[arg(long, default_value = "__kafka-obs-signals")]
    topic: String,
    /// Keep the configuration, logs and signal files here (default: a temporary directory,
    /// removed at the end).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Stop once the story has played (default: keep the web view up until Ctrl-C).
    #[arg(long)]
    exit_after_story: bool,
    /// Print one line per event instead of redrawing the view (the default when stdout is not
    /// a terminal).
    #[arg(long)]
    plain: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// In-process connectors: nothing else needed.
    Memory,
    /// OTLP/gRPC over loopback, as to a central aggregator elsewhere.
    Otlp,
    /// A Kafka topic (`--brokers`), read back by the central `kafka` receiver.
    Kafka,
}

pub fn run(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(play(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-obs demo: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn play(args: DemoArgs) -> anyhow::Result<()> {
    if !(args.speed > 0.0 && args.speed <= 100.0) {
        anyhow::bail!(
            "--speed must be above 0 and at most 100, not {}",
            args.speed
        );
    }
    if matches!(args.via, Transport::Kafka) && !cfg!(feature = "kafka") {
        anyhow::bail!("--via kafka: {}", kafka_obs::components::KAFKA_LEFT_OUT);
    }
    if TcpListener::bind(args.web).is_err() {
        anyhow::bail!(
            "{} is in use; pick another address for the web view with --web 127.0.0.1:<port>",
            args.web
        );
    }
    let temp;
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let plain = args.plain || !std::io::stdout().is_terminal();
    // The collector's own logs go to a file: the terminal belongs to the story.
    let log_path = work.join("kafka-obs.log");
    let log_file = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(log_file))
        .try_init();

    let interval = story::scaled(Duration::from_secs(2), args.speed);
    println!("kafka-obs demo: compiling the service programs with javac ...");
    let classes = jvm::compile(&work).await?;
    let specs = [
        Spec {
            service: ORDER.into(),
            role: "client",
            producers: vec!["order-producer".into()],
            consumers: vec!["payment-consumer".into()],
            topics: vec!["orders".into(), "payments".into()],
            tick: interval,
        },
        Spec {
            service: INVENTORY.into(),
            role: "client",
            producers: vec!["inventory-producer".into()],
            consumers: vec!["inventory-consumer".into()],
            topics: vec!["orders".into(), "inventory".into()],
            tick: interval,
        },
        Spec {
            service: BROKER.into(),
            role: "broker",
            producers: vec![],
            consumers: vec![],
            topics: vec!["orders".into(), "payments".into(), "inventory".into()],
            tick: interval,
        },
    ];
    println!(
        "kafka-obs demo: starting {ORDER}, {INVENTORY} and {BROKER} (JVMs with JMX on loopback) ..."
    );
    let mut jvms = Vec::new();
    for spec in &specs {
        let port = free_port()?;
        jvms.push(ServiceJvm::start(&classes, spec, port).await?);
    }
    let targets: Vec<(String, u16, &'static str)> = jvms
        .iter()
        .zip(&specs)
        .map(|(j, s)| {
            let target = if s.role == "broker" {
                "kafka,jvm"
            } else {
                "kafka-producer,kafka-consumer,jvm"
            };
            (j.service.clone(), j.jmx_port, target)
        })
        .collect();
    let via = match args.via {
        Transport::Memory => Via::Memory,
        Transport::Otlp => Via::Otlp { port: free_port()? },
        Transport::Kafka => Via::Kafka {
            brokers: args.brokers.clone(),
            topic: args.topic.clone(),
        },
    };
    let yaml = config::yaml(&config::Targets {
        jvms: &targets,
        interval,
        web: args.web,
        work: &work,
        via: &via,
        windows: config::Windows::for_interval(interval),
    });
    applog::start(&work)?;
    cgroup::start(&work, story::MEMORY_NORMAL)?;
    let config_path = work.join("demo.yaml");
    std::fs::write(&config_path, &yaml)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config = crate::load(std::slice::from_ref(&config_path))
        .map_err(|e| anyhow::anyhow!("the demo's configuration is invalid (a bug):\n{e}"))?;
    let telemetry = Telemetry::new();
    let health = HealthRegistry::new();
    let service = Service::start(&config, &telemetry, &health)
        .map_err(|e| anyhow::anyhow!("could not start the pipelines: {e}"))?;

    let url = format!("http://{}/", args.web);
    println!("kafka-obs demo: web view at {url}");
    println!(
        "kafka-obs demo: configuration {}, logs {}",
        config_path.display(),
        log_path.display()
    );
    let outcome = tokio::select! {
        r = tell_story(&mut jvms, &args, &work, &url, plain) => r,
        _ = tokio::signal::ctrl_c() => {
            println!("\nkafka-obs demo: Ctrl-C, stopping");
            Ok(())
        }
    };
    let report = service.shutdown().await;
    for j in jvms {
        j.stop().await;
    }
    for (component, error) in &report.failed {
        eprintln!("kafka-obs demo: {component} had failed: {error}");
    }
    outcome
}

async fn tell_story(
    jvms: &mut [ServiceJvm],
    args: &DemoArgs,
    work: &std::path::Path,
    url: &str,
    plain: bool,
) -> anyhow::Result<()> {
    let chapters = story::chapters();
    let total = story::total(&chapters, args.speed);
    let started = Instant::now();
    let mut tail = summary::SignalTail::new();
    let mut milestones = summary::Milestones::default();
    let mut last_plain = String::new();
    let mut next_order = 1;
    for (i, chapter) in chapters.iter().enumerate() {
        for (service, command) in &chapter.commands {
            if let Some(j) = jvms.iter_mut().find(|j| j.service == *service) {
                j.command(command).await?;
            }
        }
        if let Some(used) = chapter.inventory_memory {
            cgroup::set_memory(work, used)?;
        }
        if chapter.failed_orders > 0 {
            applog::burst(work, next_order, chapter.failed_orders)?;
            next_order += chapter.failed_orders + 1;
        }
        if plain {
            println!(
                "[{:>5.1}s] chapter {}/{}: {} — expect: {}",
                started.elapsed().as_secs_f64(),
                i + 1,
                chapters.len(),
                chapter.title,
                chapter.expect
            );
        }
        let until = Instant::now() + story::scaled(chapter.length, args.speed);
        while Instant::now() < until {
            tail.poll(&work.join("signals.jsonl"), 8);
            let tree = summary::get_json(args.web, "/api/v1/tree").await;
            let incidents = summary::get_json(args.web, "/api/v1/incidents").await;
            let services = tree
                .as_ref()
                .map(summary::service_lines)
                .unwrap_or_default();
            let open = incidents
                .as_ref()
                .map(summary::incident_lines)
                .unwrap_or_default();
            let said = milestones.observe(
                started.elapsed().as_secs_f64(),
                tree.as_ref(),
                incidents.as_ref(),
            );
            if plain {
                for line in &said {
                    println!("[{:>5.1}s] {line}", started.elapsed().as_secs_f64());
                }
                let now = format!("{services:?}{open:?}");
                if now != last_plain {
                    for l in services.iter().chain(&open) {
                        println!("          {l}");
                    }
                    last_plain = now;
                }
            } else {
                let mut out = String::new();
                out.push_str("\x1b[H\x1b[2J");
                out.push_str(&format!(
                    "kafka-obs demo — web view {url} — Ctrl-C stops\n\n"
                ));
                let done = started.elapsed().as_secs_f64() / total.as_secs_f64();
                let bar = (done.min(1.0) * 30.0) as usize;
                out.push_str(&format!(
                    "story [{}{}] chapter {}/{}: {}\n      expect: {}\n\n",
                    "#".repeat(bar),
                    ".".repeat(30 - bar),
                    i + 1,
                    chapters.len(),
                    chapter.title,
                    chapter.expect
                ));
                out.push_str("cells (situation, status):\n");
                for l in &services {
                    out.push_str(&format!("  {l}\n"));
                }
                out.push_str("\nopen incidents (root cause first):\n");
                for l in &open {
                    out.push_str(&format!("  {l}\n"));
                }
                if !milestones.log.is_empty() {
                    out.push_str("\nrecovery:\n");
                    for l in &milestones.log {
                        out.push_str(&format!("  {l}\n"));
                    }
                }
                out.push_str("\nlatest signals:\n");
                for l in &tail.latest {
                    out.push_str(&format!("  {l}\n"));
                }
                print!("{out}");
                let _ = std::io::stdout().flush();
            }
            tokio::time::sleep(Duration::from_millis(1000).min(until - Instant::now().min(until)))
                .await;
        }
    }
    // One last look, so the verdict is about the end of the story.
    let at = started.elapsed().as_secs_f64();
    let tree = summary::get_json(args.web, "/api/v1/tree").await;
    let incidents = summary::get_json(args.web, "/api/v1/incidents").await;
    let said = milestones.observe(at, tree.as_ref(), incidents.as_ref());
    if plain {
        for line in &said {
            println!("[{at:>5.1}s] {line}");
        }
    } else {
        // The redraw showed them in place; leave them on the screen for good.
        for line in &milestones.log {
            println!("{line}");
        }
    }
    println!("kafka-obs demo: the story has played ({at:.0} s).");
    println!("kafka-obs demo: {}.", milestones.verdict());
    if !args.exit_after_story {
        println!("kafka-obs demo: the web view stays at {url}; Ctrl-C stops.");
        std::future::pending::<()>().await;
    }
    Ok(())
}
