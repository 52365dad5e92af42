//! Throughput and CPU per line of the `filelog` receiver, printed beside a bare read of the
//! same file in the same run (not a test; figures for BENCHMARKS.md).
//!
//! Two files of `FILELOG_BENCH_LINES` lines (default 300000) are written once: log4j-style
//! lines and JSON lines. For each, the reference is `BufReader::lines()` over the file (a read
//! and UTF-8 check per line, nothing else); then a `filelog` receiver with `start_at:
//! beginning` and a `regex_parser` (resp. `json_parser`) with timestamp and severity reads
//! the file into a test pipeline that takes every request at once. Wall time gives lines/s,
//! the process's user+system CPU time (`/proc/self/stat`, all threads) CPU per line.
//!
//! Run: `cargo bench -p kafka-obs-receiver --no-default-features --bench filelog`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_obs_api::{Batch, BuildContext, ComponentKind, DataKind, Outputs, ReceiverConfig};
use kafka_obs_receiver::filelog::FilelogReceiverConfig;

/// Linux reports process CPU time in clock ticks of 1/100 s (`getconf CLK_TCK`).
const TICK: Duration = Duration::from_millis(10);

fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: u32 = fields[11].parse().unwrap();
    let stime: u32 = fields[12].parse().unwrap();
    TICK * (utime + stime)
}

fn write_file(path: &Path, lines: usize, line: impl Fn(usize) -> String) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..lines {
        writeln!(f, "{}", line(i)).unwrap();
    }
    f.flush().unwrap();
}

struct Figures {
    lines: usize,
    wall: Duration,
    cpu: Duration,
}

impl Figures {
    fn print(&self, what: &str) {
        let per_s = self.lines as f64 / self.wall.as_secs_f64();
        let cpu_ns = self.cpu.as_nanos() as f64 / self.lines as f64;
        println!(
            "{what:<44} {:>9} lines {:>8.3} s {:>12.0} lines/s {:>9.0} ns CPU/line",
            self.lines,
            self.wall.as_secs_f64(),
            per_s,
            cpu_ns
        );
    }
}

fn bare_read(path: &Path) -> Figures {
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let mut lines = 0;
    let mut bytes = 0;
    for line in BufReader::new(std::fs::File::open(path).unwrap()).lines() {
        bytes += line.unwrap().len();
        lines += 1;
    }
    std::hint::black_box(bytes);
    Figures {
        lines,
        wall: t0.elapsed(),
        cpu: cpu_time() - cpu0,
    }
}

fn filelog(rt: &tokio::runtime::Runtime, path: &Path, operators: &str, expect: usize) -> Figures {
    let yaml = format!(
        "{{include: ['{}'], start_at: beginning, poll_interval: 10ms, max_batch_size: 1000, operators: {operators}}}",
        path.display()
    );
    let config = FilelogReceiverConfig::parse(&serde_yaml_ng::from_str(&yaml).unwrap()).unwrap();
    rt.block_on(async {
        let ctx = BuildContext::for_test(ComponentKind::Receiver, "filelog", &[DataKind::Logs]);
        let receiver = config.build(&ctx).unwrap();
        let (outputs, mut rxs) = Outputs::for_test(&[DataKind::Logs], 64, false);
        let mut rx = rxs.remove(&DataKind::Logs).unwrap();
        let (run_ctx, stop) = ctx.run_for_test();
        let (cpu0, t0) = (cpu_time(), Instant::now());
        let task = tokio::spawn(receiver.run(outputs, run_ctx));
        let mut lines = 0;
        let mut parsed = 0;
        while lines < expect {
            let parcel = rx.recv().await.unwrap();
            let Batch::Logs(req) = parcel.accept() else {
                panic!("not logs")
            };
            for r in req
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                lines += 1;
                parsed += usize::from(r.severity_number > 0 && r.time_unix_nano > 0);
            }
        }
        let figures = Figures {
            lines,
            wall: t0.elapsed(),
            cpu: cpu_time() - cpu0,
        };
        assert_eq!(
            parsed, expect,
            "every line parsed (severity and timestamp set)"
        );
        stop.cancel();
        task.await.unwrap().unwrap();
        figures
    })
}

fn main() {
    let n: usize = std::env::var("FILELOG_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("app.log");
    let json = dir.path().join("app.json");
    write_file(&text, n, |i| {
        format!(
            "2026-12-08 01:02:{:02}.{:03} {} com.shop.Orders - order o-{i} placed for customer c-{}",
            i % 60,
            i % 1000,
            ["INFO", "WARN", "ERROR", "DEBUG"][i % 4],
            i % 977
        )
    });
    write_file(&json, n, |i| {
        format!(
            r#"{{"ts":"2026-12-08T01:02:{:02}.{:03}Z","level":"{}","logger":"com.shop.Orders","msg":"order o-{i} placed","customer":"c-{}"}}"#,
            i % 60,
            i % 1000,
            ["INFO", "WARN", "ERROR", "DEBUG"][i % 4],
            i % 977
        )
    });
    let regex_ops = r"[{type: regex_parser, regex: '^(?P<time>\S+ \S+) (?P<level>\w+) (?P<logger>\S+) - (?P<message>.*)$', timestamp: {parse_from: attributes.time, layout: '%Y-%m-%d %H:%M:%S.%L'}, severity: {parse_from: attributes.level}}]";
    let json_ops = r"[{type: json_parser, timestamp: {parse_from: attributes.ts, layout_type: gotime, layout: '2006-01-02T15:04:05.000Z07:00'}, severity: {parse_from: attributes.level}}]";
    // The receiver runs on a 2-thread runtime, as in the binary on a small sidecar.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "filelog bench: {n} lines per file, same run, same files (page cache warm after the first read)"
    );
    // Warm the page cache so neither side pays the disk.
    bare_read(&text);
    bare_read(&json);
    bare_read(&text).print("bare BufRead::lines, log4j lines");
    filelog(&rt, &text, regex_ops, n).print("filelog + regex_parser (time, severity)");
    bare_read(&json).print("bare BufRead::lines, JSON lines");
    filelog(&rt, &json, json_ops, n).print("filelog + json_parser (time, severity)");
}
