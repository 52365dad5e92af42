//! The queue's promises: order, restart without loss, recovery past damage, the size cap.

#![allow(clippy::unwrap_used)]

use super::*;
use kafka_obs_api::{ComponentId, ComponentKind, Telemetry};

fn telemetry() -> (Telemetry, ComponentTelemetry) {
    let t = Telemetry::new();
    let id: ComponentId = "otlp".parse().unwrap();
    let c = t.component(ComponentKind::Exporter, &id);
    (t, c)
}

fn options(max_size: u64, on_full: OnFull) -> QueueOptions {
    QueueOptions {
        max_size,
        segment_size: (max_size / 8).max(256),
        fsync: Fsync::Never,
        fsync_interval: Duration::from_secs(1),
        on_full,
    }
}

fn open(dir: &Path, opts: QueueOptions, t: &ComponentTelemetry) -> FileQueue {
    FileQueue::open(dir, opts, t, "file_storage").unwrap()
}

fn drain(q: &FileQueue) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(r) = q.pop().unwrap() {
        out.push((r.index, r.payload));
    }
    out
}

fn payload(i: u32) -> Vec<u8> {
    format!("record-{i:05}").into_bytes()
}

#[test]
fn fifo_and_acks_free_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, c) = telemetry();
    let mut opts = options(1 << 20, OnFull::DropNewest);
    opts.segment_size = 1024;
    let q = open(dir.path(), opts, &c);
    for i in 0..500 {
        assert_eq!(
            q.push(u64::from(i % 3), &payload(i)).unwrap(),
            PushOutcome::Stored
        );
    }
    let got = drain(&q);
    assert_eq!(got.len(), 500);
    for (n, (index, p)) in got.iter().enumerate() {
        assert_eq!(*index, n as u64);
        assert_eq!(*p, payload(n as u32));
    }
    let segments_before = fs::read_dir(dir.path()).unwrap().count();
    for (index, _) in &got {
        q.ack(*index);
    }
    assert_eq!(q.pending(), 0);
    assert!(fs::read_dir(dir.path()).unwrap().count() < segments_before);
}

#[test]
fn restart_delivers_everything_not_acked() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, c) = telemetry();
    {
        let q = open(dir.path(), options(1 << 20, OnFull::DropNewest), &c);
        for i in 0..100 {
            q.push(0, &payload(i)).unwrap();
        }
        let got = drain(&q);
        // Ack 0..40 and, out of order, 60..70; 40..60 and 70.. stay.
        for (index, _) in got.iter().filter(|(i, _)| *i < 40 || (60..70).contains(i)) {
            q.ack(*index);
        }
        q.sync().unwrap();
        // Dropped without a clean close is what kill -9 looks like to the files.
        std::mem::forget(q);
    }
    let q = open(dir.path(), options(1 << 20, OnFull::DropNewest), &c);
    let again: Vec<u64> = drain(&q).into_iter().map(|(i, _)| i).collect();
    assert_eq!(
        again,
        (40..100).collect::<Vec<_>>(),
        "at least once, in order"
    );
    // New pushes continue the index sequence.
    q.push(0, b"new").unwrap();
    assert_eq!(q.pop().unwrap().unwrap().index, 100);
}

#[test]
fn damaged_record_is_skipped_reported_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (t, c) = telemetry();
    {
        let q = open(dir.path(), options(1 << 20, OnFull::DropNewest), &c);
        for i in 0..20 {
            q.push(0, &payload(i)).unwrap();
        }
        q.sync().unwrap();
    }
    // Flip a byte inside record 5's payload.
    let seg = dir.path().join(segment_name(0));
    let mut bytes = fs::read(&seg).unwrap();
    let rec_len = (HEADER + FIXED) as usize + payload(0).len();
    bytes[rec_len * 5 + 30] ^= 0xFF;
    fs::write(&seg, &bytes).unwrap();

    let q = open(dir.path(), options(1 << 20, OnFull::DropNewest), &c);
    let got: Vec<u64> = drain(&q).into_iter().map(|(i, _)| i).collect();
    let expected: Vec<u64> = (0..20).filter(|i| *i != 5).collect();
    assert_eq!(got, expected);
    assert!(t.render_prometheus().contains(
        "kafka_obs_storage_damaged_records_total{exporter=\"otlp\",storage=\"file_storage\"} 1"
    ));
    for i in got {
        q.ack(i);
    }
    assert_eq!(
        q.pending(),
        0,
        "the damaged record's index does not block the watermark"
    );
}

#[test]
fn torn_tail_and_garbage_cursor_do_not_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, c) = telemetry();
    {
        let q = open(dir.path(), options(1 << 20, OnFull::DropNewest), &c);
        for i in 0..10 {
            q.push(0, &payload(i)).unwrap();
        }
    }
    let seg = dir.path().join(segment_name(0));
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&MAGIC.to_le_bytes()).unwrap();
    f.write_all(&[200, 0, 0]).unwrap();
    fs::write(dir.path().join(CURSOR), b"garbage").unwrap();
    let q = open(dir.path(), options(1 << 20, OnFull::DropNewest), &c);
    assert_eq!(drain(&q).len(), 10);
    q.push(0, b"after").unwrap();
    assert_eq!(q.pop().unwrap().unwrap().payload, b"after");
}

#[test]
fn cap_drop_newest_refuses_and_drop_oldest_evicts() {
    let dir = tempfile::tempdir().unwrap();
    let (t, c) = telemetry();
    let q = open(&dir.path().join("a"), options(4096, OnFull::DropNewest), &c);
    let mut stored = 0;
    let mut full = 0;
    for i in 0..400 {
        match q.push(0, &payload(i)).unwrap() {
            PushOutcome::Stored => stored += 1,
            PushOutcome::Full => full += 1,
            PushOutcome::StoredAfterEvicting { .. } => unreachable!(),
        }
    }
    assert!(stored > 50 && full > 0, "{stored} {full}");
    let got = drain(&q);
    assert_eq!(got.len(), stored, "the oldest are kept");
    assert_eq!(got[0].1, payload(0));

    let q = open(&dir.path().join("b"), options(4096, OnFull::DropOldest), &c);
    let mut evicted = 0;
    for i in 0..400 {
        match q.push(0, &payload(i)).unwrap() {
            PushOutcome::StoredAfterEvicting { evicted: n } => evicted += n,
            PushOutcome::Stored => {}
            PushOutcome::Full => panic!("drop_oldest must make room"),
        }
    }
    let got = drain(&q);
    assert!(evicted > 0);
    assert_eq!(
        got.len() as u64 + evicted,
        400,
        "every record delivered or counted"
    );
    assert_eq!(got.last().unwrap().1, payload(399), "the newest are kept");
    assert!(
        t.render_prometheus()
            .contains("kafka_obs_storage_evicted_records_total")
    );
}

#[test]
fn block_waits_for_acks() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, c) = telemetry();
    let q = std::sync::Arc::new(open(dir.path(), options(4096, OnFull::Block), &c));
    while q.push(0, &payload(1)).unwrap() != PushOutcome::Full {}
    assert!(!q.wait_for_room(Duration::from_millis(20)));
    let q2 = q.clone();
    let acker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        for r in drain(&q2) {
            q2.ack(r.0);
        }
    });
    assert!(q.wait_for_room(Duration::from_secs(5)), "{}", q.pending());
    acker.join().unwrap();
    assert_eq!(q.push(0, &payload(2)).unwrap(), PushOutcome::Stored);
}

#[test]
fn oversized_record_is_an_error_not_a_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (_t, c) = telemetry();
    let q = open(dir.path(), options(4096, OnFull::Block), &c);
    assert!(q.push(0, &vec![0u8; 5000]).is_err());
}
