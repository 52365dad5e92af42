//! The receiver alone on real files, with the test outputs standing in for the pipelines:
//! a refused request is offered again (and counted), rotation and truncation read every line
//! once, start_at end skips what was there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use kafka_obs_api::{
    Batch, BuildContext, ComponentKind, DataKind, Outputs, Parcel, ReceiverConfig, Telemetry,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use tokio::sync::mpsc;

use super::FilelogReceiverConfig;

fn config(yaml: &str) -> FilelogReceiverConfig {
    FilelogReceiverConfig::parse(&serde_yaml_ng::from_str(yaml).unwrap()).unwrap()
}

fn bodies(batch: &Batch) -> Vec<String> {
    let Batch::Logs(req) = batch else {
        panic!("not logs")
    };
    req.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|r| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            other => panic!("body {other:?}"),
        })
        .collect()
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// Accepts every parcel and collects the bodies until `n` arrived.
async fn take(rx: &mut mpsc::Receiver<Parcel>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let parcel = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {out:?} of {n} arrived"))
            .unwrap();
        out.extend(bodies(&parcel.accept()));
    }
    out
}

struct Running {
    rx: mpsc::Receiver<Parcel>,
    telemetry: Telemetry,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(cfg: &FilelogReceiverConfig) -> Running {
    let telemetry = Telemetry::new();
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "filelog", &[DataKind::Logs])
        .with_telemetry(&telemetry);
    let receiver = cfg.build(&ctx).unwrap();
    let (outputs, mut rxs) = Outputs::for_test(&[DataKind::Logs], 4, true);
    let (run_ctx, stop) = ctx.run_for_test();
    let task = tokio::spawn(async move {
        receiver.run(outputs, run_ctx).await.unwrap();
    });
    Running {
        rx: rxs.remove(&DataKind::Logs).unwrap(),
        telemetry,
        stop,
        task,
    }
}

#[tokio::test]
async fn a_refused_request_is_offered_again_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["one", "two"]);
    let cfg = config(&format!(
        "{{include: ['{}/*.log'], start_at: beginning, poll_interval: 20ms}}",
        dir.path().display()
    ));
    let mut r = start(&cfg);
    let first = r.rx.recv().await.unwrap();
    assert_eq!(bodies(&first.batch), vec!["one", "two"]);
    first.receipt.refuse("pipeline full");
    assert_eq!(take(&mut r.rx, 2).await, vec!["one", "two"]);
    // The receiver counts once it heard the receipt, just after the test settled it.
    let accepted = "otelcol_receiver_accepted_log_records{receiver=\"filelog\",transport=\"\"} 2";
    for _ in 0..100 {
        if r.telemetry.render_prometheus().contains(accepted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = r.telemetry.render_prometheus();
    assert!(
        text.contains(
            "otelcol_receiver_refused_log_records{receiver=\"filelog\",transport=\"\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains(accepted), "{text}");
    r.stop.cancel();
    r.task.await.unwrap();
}

#[tokio::test]
async fn rotation_truncation_and_start_at_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["old line, before start"]);
    let cfg = config(&format!(
        "{{include: ['{}'], poll_interval: 20ms, fingerprint_size: 16}}",
        log.display()
    ));
    let mut r = start(&cfg);
    tokio::time::sleep(Duration::from_millis(100)).await;
    append(&log, &["a1 first after start", "a2"]);
    assert_eq!(take(&mut r.rx, 2).await, vec!["a1 first after start", "a2"]);
    // Rename rotation: the last lines of the old file and the new file's lines, once each.
    append(&log, &["a3 written before the rename"]);
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, &["b1 in the new file"]);
    let mut got = take(&mut r.rx, 2).await;
    got.sort();
    assert_eq!(
        got,
        vec!["a3 written before the rename", "b1 in the new file"]
    );
    // Truncation in place, then new lines.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    append(&log, &["c1 after truncation"]);
    assert_eq!(take(&mut r.rx, 1).await, vec!["c1 after truncation"]);
    r.stop.cancel();
    r.task.await.unwrap();
    assert!(r.rx.try_recv().is_err(), "nothing was read twice");
}

#[tokio::test]
async fn oversized_and_non_utf8_entries_are_dropped_counted_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut bytes = b"before\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 300]);
    bytes.extend_from_slice(b"\nbad \xff\xfe bytes\nafter\n");
    std::fs::write(&log, &bytes).unwrap();
    let cfg = config(&format!(
        "{{include: ['{}'], start_at: beginning, poll_interval: 20ms, max_log_size: 100}}",
        log.display()
    ));
    let mut r = start(&cfg);
    assert_eq!(take(&mut r.rx, 2).await, vec!["before", "after"]);
    let text = r.telemetry.render_prometheus();
    for reason in ["oversized", "encoding"] {
        let series = format!(
            "kafka_obs_filelog_dropped_entries{{receiver=\"filelog\",reason=\"{reason}\"}} 1"
        );
        assert!(text.contains(&series), "{series} in\n{text}");
    }
    // A line longer than max_log_size with no newline yet is dropped up to its end too.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(&[b'y'; 250]).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    f.write_all(b"yyy\nlast\n").unwrap();
    assert_eq!(take(&mut r.rx, 1).await, vec!["last"]);
    r.stop.cancel();
    r.task.await.unwrap();
}

#[tokio::test]
async fn a_file_deleted_mid_read_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &["d1", "d2", "d3", "d4"]);
    let cfg = config(&format!(
        "{{include: ['{}/*.log'], start_at: beginning, poll_interval: 20ms, max_batch_size: 1}}",
        dir.path().display()
    ));
    let mut r = start(&cfg);
    // The receiver waits for this receipt before reading on; the file goes meanwhile.
    let first = r.rx.recv().await.unwrap();
    std::fs::remove_file(&log).unwrap();
    assert_eq!(bodies(&first.accept()), vec!["d1"]);
    assert_eq!(take(&mut r.rx, 3).await, vec!["d2", "d3", "d4"]);
    // Then it is closed.
    let open = "kafka_obs_filelog_files_open{receiver=\"filelog\"} 0";
    for _ in 0..100 {
        if r.telemetry.render_prometheus().contains(open) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(r.telemetry.render_prometheus().contains(open));
    r.stop.cancel();
    r.task.await.unwrap();
}
