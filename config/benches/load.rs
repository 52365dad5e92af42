//! Loading a configuration file: time and peak memory of `Source::read` (size limit, walk,
//! line index, parse, merge, `${env:…}`) beside a bare `serde_yaml_ng` parse of the same file,
//! which is what loading did before the limit (it also built a line index, so the reference
//! is a lower bound of the old cost). Sizes around the 8 MiB limit, and a nested-alias bomb.
//!
//! Each case runs in a child process (this binary with `--case`), so the peak RSS it reports
//! (VmHWM) is that case's alone.
//!
//! `cargo bench -p kafka-obs-config --bench load`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kafka_obs_config::Source;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let (Some(case), Some(file)) = (args.get(i + 1), args.get(i + 2)) else {
            eprintln!("usage: load --case reference|ours FILE");
            std::process::exit(2);
        };
        run_case(case, Path::new(file));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "{:<28} {:>28} {:>28}",
        "file", "bare serde parse (before)", "Source::read (now)"
    );
    for mib in [1.0, 7.5, 50.0] {
        let path = dir.path().join(format!("{mib}MiB.yaml"));
        std::fs::write(&path, config_of_size((mib * f64::from(1 << 20)) as usize)).expect("write");
        row(&format!("{mib} MiB of jmx receivers"), &path);
    }
    let bomb = dir.path().join("bomb.yaml");
    std::fs::write(&bomb, alias_bomb()).expect("write");
    row("alias bomb (10^9 values)", &bomb);
}

/// One line of the table: both cases on `path`.
fn row(label: &str, path: &Path) {
    let cell = |case: &str| {
        let out = Command::new(std::env::current_exe().expect("own path"))
            .args(["--case", case])
            .arg(path)
            .output()
            .expect("run case");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            text
        } else {
            format!("failed ({})", out.status)
        }
    };
    println!("{label:<28} {:>28} {:>28}", cell("reference"), cell("ours"));
}

/// Parses `file` one way and prints `outcome, ms, peak RSS`.
fn run_case(case: &str, file: &Path) {
    let start = Instant::now();
    let outcome = match case {
        "reference" => {
            let text = std::fs::read_to_string(file).expect("read");
            match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
                Ok(v) => {
                    std::hint::black_box(&v);
                    "parsed"
                }
                Err(_) => "refused",
            }
        }
        _ => match Source::read(&[PathBuf::from(file)]) {
            Ok(s) => {
                std::hint::black_box(&s);
                "parsed"
            }
            Err(_) => "refused",
        },
    };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    println!("{outcome} {ms:>8.1} ms {:>6} MiB", peak_rss_kib() / 1024);
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A config of about `bytes` bytes: many JMX receivers, each a few keys deep.
fn config_of_size(bytes: usize) -> String {
    let mut out = String::from("receivers:\n");
    let mut i = 0u64;
    while out.len() < bytes {
        out.push_str(&format!(
            "  jmx/{i}:\n    endpoint: 10.0.{}.{}:9999\n    target_system: kafka,jvm\n    collection_interval: 10s\n    resource_attributes: {{service.name: svc-{i}, env: prod}}\n",
            i / 250 % 250,
            i % 250
        ));
        i += 1;
    }
    out
}

/// Nine levels of ten aliases each: a billion values once expanded, 1 KiB written.
fn alias_bomb() -> String {
    let mut out = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        out.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    out
}
