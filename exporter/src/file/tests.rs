//! The `file` exporter against a real temporary directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::mpsc;

use kafka_obs_api::{
    Batch, BuildContext, ComponentKind, ComponentTelemetry, DataKind, Exporter, Parcel,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use super::*;
use kafka_obs_otlp_json::fixtures::{logs, metrics, traces};
use kafka_obs_otlp_json::{from_json_lines, write_json_line};

fn parse(yaml: &str) -> Result<FileExporterConfig, ComponentConfigError> {
    FileExporterConfig::parse(&serde_yaml_ng::from_str(yaml).expect("test yaml"))
}

#[test]
fn testdata_matches_the_typed_config() {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../testdata/file.yaml")).expect("testdata yaml");
    let get =
        |id: &str| FileExporterConfig::parse(&value[id]).unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(
        get("file"),
        FileExporterConfig {
            path: "./otlp.jsonl".into(),
            format: FileFormat::Json,
            rotation: None,
            flush_interval: Duration::from_secs(1),
            append: false,
        }
    );
    assert_eq!(
        get("file/rotated").rotation,
        Some(Rotation {
            max_bytes: 100 << 20,
            max_days: 0,
            max_backups: 100,
            localtime: false,
        })
    );
    assert_eq!(
        get("file/custom"),
        FileExporterConfig {
            path: "out/metrics.pb".into(),
            format: FileFormat::Proto,
            rotation: Some(Rotation {
                max_bytes: 512 << 10,
                max_days: 7,
                max_backups: 3,
                localtime: true,
            }),
            flush_interval: Duration::from_millis(250),
            append: false,
        }
    );
    assert!(get("file/append").append);
}

#[test]
fn errors_name_the_path() {
    for (yaml, path, words) in [
        ("", "path", "required"),
        ("format: json", "path", "required"),
        ("path: ''", "path", "required"),
        ("path: x\nformat: xml", "format", "json"),
        (
            "path: x\nrotation: {max_megabytes: -1}",
            "rotation::max_megabytes",
            "megabytes",
        ),
        (
            "path: x\nrotation: {max_backup: 1}",
            "rotation::max_backup",
            "unknown field",
        ),
        (
            "path: x\nflush_interval: 0s",
            "flush_interval",
            "greater than 0",
        ),
        ("path: x\nappend: true\nrotation:", "append", "rotation"),
    ] {
        let e = parse(yaml).expect_err(yaml);
        assert_eq!(e.path, path, "{yaml}: {e}");
        assert!(e.message.contains(words), "{yaml}: {e}");
    }
}

struct Run {
    tx: mpsc::Sender<Parcel>,
    task: tokio::task::JoinHandle<Result<(), kafka_obs_api::RunError>>,
    telemetry: ComponentTelemetry,
}

fn start(config: &FileExporterConfig) -> Run {
    let ctx = BuildContext::for_test(ComponentKind::Exporter, "file", &DataKind::ALL);
    let telemetry = ctx.telemetry.clone();
    let exporter = config.open(&ctx).expect("opens");
    let (tx, rx) = mpsc::channel(64);
    let (run_ctx, _) = ctx.run_for_test();
    let task = tokio::spawn(Box::new(exporter).run(rx, run_ctx));
    Run {
        tx,
        task,
        telemetry,
    }
}

impl Run {
    async fn write_all(self, batches: &[Batch]) -> ComponentTelemetry {
        for b in batches {
            self.tx.send(b.clone().into()).await.expect("open");
        }
        drop(self.tx);
        self.task
            .await
            .expect("no panic")
            .expect("flushed and synced");
        self.telemetry
    }
}

fn config(path: &Path) -> FileExporterConfig {
    FileExporterConfig {
        path: path.to_path_buf(),
        format: FileFormat::Json,
        rotation: None,
        flush_interval: Duration::from_secs(1),
        append: false,
    }
}

/// NaN breaks `==`; compare requests by their protobuf bytes.
fn proto(b: &Batch) -> Vec<u8> {
    match b {
        Batch::Metrics(r) => r.encode_to_vec(),
        Batch::Logs(r) => r.encode_to_vec(),
        Batch::Traces(r) => r.encode_to_vec(),
    }
}

#[tokio::test]
async fn json_lines_decode_back_to_the_same_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dir/out.jsonl");
    let batches = vec![metrics(), logs(), traces(), metrics()];
    let telemetry = start(&config(&path)).write_all(&batches).await;
    let text = std::fs::read_to_string(&path).expect("file written");
    assert_eq!(text.lines().count(), 4, "one request per line");
    let back = from_json_lines(&text).expect("every line decodes");
    assert_eq!(
        back.iter().map(proto).collect::<Vec<_>>(),
        batches.iter().map(proto).collect::<Vec<_>>()
    );
    assert_eq!(telemetry.sent(DataKind::Metrics).get(), 10);
    assert_eq!(telemetry.sent(DataKind::Logs).get(), 1);
    assert_eq!(telemetry.sent(DataKind::Traces).get(), 1);
    assert_eq!(telemetry.send_failed(DataKind::Metrics).get(), 0);
}

#[tokio::test]
async fn proto_is_length_prefixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.pb");
    let mut cfg = config(&path);
    cfg.format = FileFormat::Proto;
    start(&cfg).write_all(&[metrics(), metrics()]).await;
    let bytes = std::fs::read(&path).expect("file written");
    let mut rest = bytes.as_slice();
    let mut read = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at(4);
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let (msg, tail) = tail.split_at(len);
        read.push(Batch::Metrics(
            ExportMetricsServiceRequest::decode(msg).expect("protobuf"),
        ));
        rest = tail;
    }
    assert_eq!(read.len(), 2);
    assert_eq!(proto(&read[1]), proto(&metrics()));
}

#[tokio::test]
async fn append_keeps_and_default_truncates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.jsonl");
    std::fs::write(&path, "").expect("create");
    start(&config(&path)).write_all(&[logs()]).await;
    let mut cfg = config(&path);
    cfg.append = true;
    start(&cfg).write_all(&[logs()]).await;
    assert_eq!(
        std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count(),
        2
    );
    start(&config(&path)).write_all(&[logs()]).await;
    assert_eq!(
        std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count(),
        1
    );
}

#[tokio::test]
async fn flush_interval_makes_data_visible_before_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.jsonl");
    let mut cfg = config(&path);
    cfg.flush_interval = Duration::from_millis(20);
    let run = start(&cfg);
    run.tx.send(logs().into()).await.expect("open");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&path)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "not flushed within 10s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.write_all(&[]).await;
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn rotates_by_size_and_keeps_max_backups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("signals.jsonl");
    let mut one_line = Vec::new();
    write_json_line(&logs(), &mut one_line).expect("encodes");
    let line_len = one_line.len() as u64;
    let mut cfg = config(&path);
    // Room for two lines per file.
    cfg.rotation = Some(Rotation {
        max_bytes: line_len * 2 + line_len / 2,
        max_days: 0,
        max_backups: 2,
        localtime: false,
    });
    let telemetry = start(&cfg).write_all(&vec![logs(); 9]).await;
    assert_eq!(
        telemetry.sent(DataKind::Logs).get(),
        9,
        "rotation loses nothing it keeps"
    );

    let files = names(dir.path());
    // 9 lines = 5 files of at most 2 lines; the live one and the 2 newest backups remain.
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.contains(&"signals.jsonl".to_string()), "{files:?}");
    let backups: Vec<&String> = files.iter().filter(|f| f.starts_with("signals-")).collect();
    assert_eq!(backups.len(), 2, "{files:?}");
    for b in &backups {
        // signals-2026-11-27T01-02-03.456.jsonl
        assert!(
            b.ends_with(".jsonl") && b.len() >= "signals-".len() + 23 + ".jsonl".len(),
            "{b}"
        );
        assert_eq!(&b[18..19], "T", "{b}");
    }
    let mut total = 0;
    for f in &files {
        let text = std::fs::read_to_string(dir.path().join(f)).expect("read");
        assert!(
            text.len() as u64 <= line_len * 2 + line_len / 2,
            "{f} too large"
        );
        let back = from_json_lines(&text).expect("each file is whole JSON lines");
        total += back.len();
    }
    assert_eq!(
        total,
        1 + 2 + 2,
        "live file holds the 9th line; backups hold 2 each"
    );
}

#[tokio::test]
async fn a_line_larger_than_the_limit_still_gets_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.jsonl");
    let mut cfg = config(&path);
    cfg.rotation = Some(Rotation {
        max_bytes: 10,
        max_days: 0,
        max_backups: 0,
        localtime: true,
    });
    start(&cfg)
        .write_all(&[metrics(), metrics(), metrics()])
        .await;
    let all: Vec<PathBuf> = names(dir.path())
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    assert_eq!(
        all.len(),
        3,
        "one request per file, all backups kept (max_backups 0)"
    );
    for p in all {
        let back = from_json_lines(&std::fs::read_to_string(&p).expect("read")).expect("decodes");
        assert_eq!(back.len(), 1);
    }
}

#[test]
fn an_unwritable_path_fails_at_build_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("create");
    // A path *under* a regular file cannot be created.
    let cfg = config(&file.join("out.jsonl"));
    let ctx = BuildContext::for_test(ComponentKind::Exporter, "file", &[DataKind::Logs]);
    let err = cfg.open(&ctx).expect_err("cannot open");
    assert!(err.to_string().contains("a-file/out.jsonl"), "{err}");
}

#[test]
fn the_factories_are_debug_and_file() {
    assert_eq!(crate::debug::FACTORY.meta().type_name, "debug");
    assert_eq!(crate::file::FACTORY.meta().type_name, "file");
}
