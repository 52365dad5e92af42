//! A running `signals` receiver driven by the generated `SignalAggregator` client: acks come
//! only after the pipeline's verdict, refusals ask for a resend, bad envelopes are rejected
//! without ending the stream, and resends after a dropped connection reach the pipeline once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use kafka_obs_api::telemetry::Telemetry;
use kafka_obs_api::{
    Batch, BuildContext, ComponentKind, DataKind, Outputs, Parcel, Receiver, RunError,
};
use kafka_obs_proto::aggregator::v1::signal_aggregator_client::SignalAggregatorClient;
use kafka_obs_proto::aggregator::v1::{Ack, AckStatus, SignalEnvelope};
use kafka_obs_signal::otlp::logs::from_export_request;
use kafka_obs_signal::proto::to_envelope;
use kafka_obs_signal::{Evidence, Signal, Subject};

use super::SignalsReceiverConfig;

fn signal(source: &str, sequence: u64) -> Signal {
    let mut s = Signal::new(
        Subject::from_pairs([("cluster", "prod"), ("client", "order-producer")]).unwrap(),
        "Queues.OVERFLOW".parse().unwrap(),
        Evidence::rule("P1").with("utilization", 0.97),
        1_700_000_000_000_000_000 + sequence,
    )
    .from_source(source);
    s.sequence = sequence;
    s
}

fn envelope(source: &str, sequence: u64) -> SignalEnvelope {
    to_envelope(&signal(source, sequence)).unwrap()
}

struct Harness {
    addr: SocketAddr,
    rx: mpsc::Receiver<Parcel>,
    telemetry: Telemetry,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), RunError>>,
}

fn start(yaml: &str, capacity: usize) -> Harness {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let config = SignalsReceiverConfig::parse(&value).unwrap();
    let ctx = BuildContext::for_test(ComponentKind::Receiver, "signals/test", &[DataKind::Logs]);
    let receiver = config.bind(&ctx).unwrap();
    let addr = receiver.local_addr().unwrap();
    // The test holds the receipts and settles them itself.
    let (outputs, mut rx) = Outputs::for_test(&[DataKind::Logs], capacity, true);
    let rx = rx.remove(&DataKind::Logs).unwrap();
    let (run_ctx, shutdown) = ctx.run_for_test();
    let task = tokio::spawn(Box::new(receiver).run(outputs, run_ctx));
    Harness {
        addr,
        rx,
        telemetry: ctx.telemetry.registry().clone(),
        shutdown,
        task,
    }
}

impl Harness {
    async fn parcel(&mut self) -> Parcel {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("a batch within 10s")
            .expect("pipeline open")
    }

    fn metric(&self, name: &str) -> u64 {
        self.telemetry
            .snapshot()
            .into_iter()
            .filter(|s| s.name == name)
            .map(|s| s.value.as_i64() as u64)
            .sum()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("receiver stops after shutdown")
            .expect("no panic");
        assert!(result.is_ok(), "{result:?}");
    }
}

/// (source, sequence) of every signal in a logs batch.
fn keys(batch: &Batch) -> Vec<(String, u64)> {
    let Batch::Logs(request) = batch else {
        panic!("not logs: {:?}", batch.kind());
    };
    from_export_request(request)
        .unwrap()
        .into_iter()
        .map(|s| (s.source_id, s.sequence))
        .collect()
}

/// An open stream: a sender for envelopes and the acks coming back.
struct Stream {
    tx: mpsc::Sender<SignalEnvelope>,
    acks: tonic::Streaming<Ack>,
}

async fn open(addr: SocketAddr) -> Stream {
    let mut client = SignalAggregatorClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel::<SignalEnvelope>(1024);
    let outbound = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let acks = client.stream_signals(outbound).await.unwrap().into_inner();
    Stream { tx, acks }
}

impl Stream {
    async fn send(&self, envelopes: impl IntoIterator<Item = SignalEnvelope>) {
        for e in envelopes {
            self.tx.send(e).await.unwrap();
        }
    }

    async fn acks(&mut self, n: usize) -> Vec<Ack> {
        let mut out = Vec::new();
        while out.len() < n {
            let ack = tokio::time::timeout(Duration::from_secs(10), self.acks.message())
                .await
                .expect("an ack within 10s")
                .expect("stream ok")
                .expect("stream open");
            out.push(ack);
        }
        out
    }

    async fn no_ack_within(&mut self, d: Duration) {
        if let Ok(m) = tokio::time::timeout(d, self.acks.message()).await {
            panic!("unexpected ack: {m:?}");
        }
    }
}

#[tokio::test]
async fn acked_only_after_the_pipeline_accepted() {
    let mut h = start("endpoint: 127.0.0.1:0", 16);
    let mut s = open(h.addr).await;
    s.send((1..=100).map(|q| envelope("pod-a", q))).await;
    let mut held = Vec::new();
    let mut seen = Vec::new();
    while seen.len() < 100 {
        let p = h.parcel().await;
        seen.extend(keys(&p.batch));
        held.push(p);
    }
    assert_eq!(
        seen.iter().map(|(_, q)| *q).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>(),
        "in order, each once"
    );
    s.no_ack_within(Duration::from_millis(300)).await;
    for p in held {
        p.accept();
    }
    let acks = s.acks(100).await;
    let acked: BTreeSet<u64> = acks.iter().map(|a| a.sequence).collect();
    assert_eq!(acked, (1..=100).collect());
    assert!(
        acks.iter()
            .all(|a| a.status() == AckStatus::Accepted && a.source_id == "pod-a" && !a.cumulative)
    );
    assert_eq!(
        h.metric("otelcol_receiver_accepted_log_records"),
        100,
        "counted"
    );
    let text = h.telemetry.render_prometheus();
    assert!(
        text.contains(
            "otelcol_receiver_accepted_log_records{receiver=\"signals/test\",transport=\"grpc\"} 100"
        ),
        "with the Collector's labels:\n{text}"
    );
    drop(s);
    h.stop().await;
}

#[tokio::test]
async fn refused_means_retry_and_the_resend_is_taken() {
    let mut h = start("endpoint: 127.0.0.1:0", 16);
    let mut s = open(h.addr).await;
    s.send([envelope("pod-a", 7)]).await;
    h.parcel().await.receipt.refuse("exporter queue closed");
    let ack = s.acks(1).await.remove(0);
    assert_eq!(ack.status(), AckStatus::Retry);
    assert!(ack.message.contains("exporter queue closed"), "{ack:?}");
    s.send([envelope("pod-a", 7)]).await;
    let p = h.parcel().await;
    assert_eq!(keys(&p.batch), [("pod-a".to_string(), 7)]);
    p.accept();
    assert_eq!(s.acks(1).await[0].status(), AckStatus::Accepted);
    assert_eq!(h.metric("kafka_obs_receiver_duplicate_signals_total"), 0);
    drop(s);
    h.stop().await;
}

#[tokio::test]
async fn a_bad_envelope_is_rejected_and_the_stream_goes_on() {
    let mut h = start("endpoint: 127.0.0.1:0", 16);
    let mut s = open(h.addr).await;
    let mut garbage = envelope("pod-a", 1);
    garbage.payload = vec![0xff, 0xff, 0xff];
    let mut mismatched = envelope("pod-a", 2);
    mismatched.sequence = 99; // the payload says 2
    s.send([garbage, mismatched]).await;
    let acks = s.acks(2).await;
    assert!(
        acks.iter().all(|a| a.status() == AckStatus::Rejected),
        "{acks:?}"
    );
    assert!(
        acks.iter().any(|a| a.message.contains("sequence")),
        "{acks:?}"
    );
    s.send([envelope("pod-a", 3)]).await;
    let p = h.parcel().await;
    assert_eq!(keys(&p.batch), [("pod-a".to_string(), 3)]);
    p.accept();
    assert_eq!(s.acks(1).await[0].status(), AckStatus::Accepted);
    assert_eq!(h.metric("kafka_obs_receiver_rejected_envelopes_total"), 2);
    assert_eq!(h.metric("otelcol_receiver_failed_log_records"), 2);
    drop(s);
    h.stop().await;
}

/// The sender's view of a dropped connection: envelopes sent, the connection gone before the
/// acks; a new stream resends everything unacked plus new ones. Downstream sees each once,
/// every resend is acked, including one whose first copy is still in the pipeline.
#[tokio::test]
async fn resends_after_a_dropped_connection_reach_the_pipeline_once() {
    let mut h = start("endpoint: 127.0.0.1:0\nmax_batch_size: 16", 64);
    // First connection: 1..=50, then it is gone before any ack.
    let first = open(h.addr).await;
    first.send((1..=50).map(|q| envelope("pod-a", q))).await;
    let mut downstream: Vec<(String, u64)> = Vec::new();
    let mut held = Vec::new();
    while downstream.len() < 50 {
        let p = h.parcel().await;
        downstream.extend(keys(&p.batch));
        held.push(p);
    }
    drop(first);
    // Half of them accepted while no stream can carry the acks; the rest still in flight.
    let in_flight = held.split_off(held.len() / 2);
    let accepted_before: usize = held.iter().map(|p| p.batch.item_count()).sum();
    for p in held {
        p.accept();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Second connection resends all 50 and adds 51..=60.
    let mut second = open(h.addr).await;
    second.send((1..=60).map(|q| envelope("pod-a", q))).await;
    // The accepted ones are acked at once, from the dedupe state.
    let early = second.acks(accepted_before).await;
    assert!(early.iter().all(|a| a.status() == AckStatus::Accepted));
    // The new ones reach the pipeline; the in-flight ones do not again.
    while downstream.len() < 60 {
        let p = h.parcel().await;
        downstream.extend(keys(&p.batch));
        p.accept();
    }
    for p in in_flight {
        p.accept();
    }
    let rest = second.acks(60 - accepted_before).await;
    let all: BTreeSet<u64> = early.iter().chain(&rest).map(|a| a.sequence).collect();
    assert_eq!(all, (1..=60).collect(), "every resend and new one acked");
    assert!(rest.iter().all(|a| a.status() == AckStatus::Accepted));

    let mut sorted = downstream.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), downstream.len(), "no duplicate downstream");
    assert_eq!(downstream.len(), 60);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), h.rx.recv())
            .await
            .is_err(),
        "nothing more reaches the pipeline"
    );
    assert_eq!(h.metric("kafka_obs_receiver_duplicate_signals_total"), 50);
    drop(second);
    h.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let mut h = start("endpoint: 127.0.0.1:0", 16);
    let mut s = open(h.addr).await;
    s.send([envelope("pod-a", 1)]).await;
    h.parcel().await.accept();
    assert_eq!(s.acks(1).await[0].status(), AckStatus::Accepted);
    h.shutdown.cancel();
    // The stream ends (the sender reconnects elsewhere); the receiver returns promptly.
    let end = tokio::time::timeout(Duration::from_secs(10), s.acks.message())
        .await
        .expect("the stream ends within 10s");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    tokio::time::timeout(Duration::from_secs(10), h.task)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("clean");
}
