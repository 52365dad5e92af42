//! `signals` against a small SignalAggregator written here: it acks, drops the stream midway
//! without acking the tail, goes away entirely and comes back on the same port. Every signal
//! must arrive at least once, each source's first deliveries in sequence order, reconnects and
//! resends visible in self-metrics, non-signal records skipped and counted. With
//! `auth.authenticator`, every stream opens with the authenticator's header.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use common::*;
use kafka_obs_api::Host;
use kafka_obs_exporter::signals::SignalsExporterConfig;
use kafka_obs_proto::aggregator::v1::signal_aggregator_server::{
    SignalAggregator, SignalAggregatorServer,
};
use kafka_obs_proto::aggregator::v1::{Ack, AckStatus, SignalEnvelope};
use kafka_obs_signal::proto::from_envelope;

#[derive(Clone, Default)]
struct Aggregator {
    /// Every envelope received, in arrival order: (source, sequence).
    seen: Arc<Mutex<Vec<(String, u64)>>>,
    streams: Arc<AtomicUsize>,
    /// On the first stream, break it after this many envelopes (0: never).
    break_first_after: usize,
    /// The `authorization` metadata each stream opened with.
    authorization: Arc<Mutex<Vec<Option<String>>>>,
}

type AckStream = Pin<Box<dyn Stream<Item = Result<Ack, Status>> + Send>>;

#[tonic::async_trait]
impl SignalAggregator for Aggregator {
    type StreamSignalsStream = AckStream;

    async fn stream_signals(
        &self,
        request: Request<Streaming<SignalEnvelope>>,
    ) -> Result<Response<AckStream>, Status> {
        let stream_no = self.streams.fetch_add(1, Ordering::SeqCst);
        self.authorization.lock().unwrap().push(
            request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
        let mut inbound = request.into_inner();
        let (tx, mut rx) = mpsc::channel::<Result<Ack, Status>>(4096);
        let seen = self.seen.clone();
        let break_after = if stream_no == 0 {
            self.break_first_after
        } else {
            0
        };
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok(Some(env)) = inbound.message().await {
                let signal = from_envelope(&env).expect("payload decodes and matches");
                assert_eq!(signal.sequence, env.sequence);
                seen.lock()
                    .unwrap()
                    .push((env.source_id.clone(), env.sequence));
                n += 1;
                if break_after > 0 && n >= break_after {
                    // Received but never acked: the exporter must send these again.
                    let _ = tx
                        .send(Err(Status::unavailable("scripted stream break")))
                        .await;
                    return;
                }
                // Every other envelope is acked cumulatively, the rest one by one.
                let ack = Ack {
                    source_id: env.source_id,
                    sequence: env.sequence,
                    status: AckStatus::Accepted.into(),
                    message: String::new(),
                    cumulative: env.sequence % 2 == 0,
                };
                if tx.send(Ok(ack)).await.is_err() {
                    return;
                }
            }
        });
        let acks = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Ok(Response::new(Box::pin(acks)))
    }
}

async fn serve(agg: Aggregator, port: u16) -> (u16, ServerHandle2) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                SignalAggregatorServer::new(agg)
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (port, ServerHandle2(task))
}

struct ServerHandle2(tokio::task::JoinHandle<Result<(), tonic::transport::Error>>);

impl Drop for ServerHandle2 {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn config(port: u16, extra: &str) -> SignalsExporterConfig {
    SignalsExporterConfig::parse(
        &serde_yaml_ng::from_str(&format!(
            "endpoint: 127.0.0.1:{port}\ntls: {{insecure: true}}\ntimeout: 3s
retry_on_failure: {{initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: 60s}}
{extra}"
        ))
        .unwrap(),
    )
    .unwrap()
}

fn check_first_deliveries_in_order(seen: &[(String, u64)]) -> BTreeMap<String, BTreeSet<u64>> {
    let mut firsts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut got: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for (src, seq) in seen {
        if got.entry(src.clone()).or_default().insert(*seq) {
            firsts.entry(src.clone()).or_default().push(*seq);
        }
    }
    for (src, seqs) in &firsts {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "source {src}: first deliveries out of order: {seqs:?}"
        );
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_break_and_outage_lose_nothing_and_keep_source_order() {
    let agg = Aggregator {
        break_first_after: 150,
        ..Aggregator::default()
    };
    let (port, server) = serve(agg.clone(), 0).await;
    let cfg = config(port, "compression: gzip");
    let running = Running::start(&cfg, "signals", Host::default());
    let sources = ["pod-a", "pod-b", "pod-c"];
    // Phase 1: 3 sources x 100 signals, 2 plain records per batch; the stream breaks at 150.
    for round in 0..10u64 {
        for src in sources {
            running
                .tx
                .send(signal_batch(src, round * 10, 10, 2))
                .await
                .unwrap();
        }
    }
    let want_phase1 = 300;
    assert!(
        eventually(Duration::from_secs(30), || {
            check_first_deliveries_in_order(&agg.seen.lock().unwrap())
                .values()
                .map(BTreeSet::len)
                .sum::<usize>()
                >= want_phase1
        })
        .await,
        "phase 1 not delivered"
    );
    // Phase 2: the aggregator goes away; signals keep coming; it comes back on the same port.
    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 10..15u64 {
        for src in sources {
            running
                .tx
                .send(signal_batch(src, round * 10, 10, 0))
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, _server) = serve(agg.clone(), port).await;
    let t = running.finish(Duration::from_secs(40)).await;

    let seen = agg.seen.lock().unwrap().clone();
    let got = check_first_deliveries_in_order(&seen);
    for src in sources {
        assert_eq!(got[src], (0..150).collect::<BTreeSet<u64>>(), "{src}");
    }
    assert!(seen.len() >= 450, "at least once");
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 450);
    assert_eq!(
        counter(
            &t,
            "kafka_obs_exporter_skipped_items_total",
            &["reason=\"not_a_signal\""]
        ),
        60
    );
    assert!(counter(&t, "kafka_obs_exporter_stream_reconnects_total", &[]) >= 1);
    assert!(
        counter(&t, "kafka_obs_exporter_retries_total", &[]) >= 1
            || counter(&t, "kafka_obs_exporter_stream_resent_total", &[]) >= 1,
        "{}",
        t.render_prometheus()
    );
    assert_eq!(all_signals(&t, "otelcol_exporter_send_failed"), 0);
    assert!(agg.streams.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_aggregator_never_blocks_the_input() {
    let port = kafka_obs_testkit::net::free_port();
    let cfg = config(
        port,
        "max_in_flight: 20\nsending_queue: {queue_size: 5, num_consumers: 2}",
    );
    let running = Running::start(&cfg, "signals/dead", Host::default());
    let started = Instant::now();
    let mut accepted = 0u64;
    let mut dropped = 0u64;
    for round in 0..200u64 {
        match running.tx.try_send(signal_batch("pod-x", round * 5, 5, 0)) {
            Ok(()) => accepted += 5,
            Err(_) => dropped += 5,
        }
        tokio::task::yield_now().await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the input never waits"
    );
    assert!(
        dropped > 0,
        "a bounded queue in front of a dead aggregator overflows"
    );
    // It comes back: what was accepted is delivered.
    let agg = Aggregator::default();
    let (_, _server) = serve(agg.clone(), port).await;
    let t = running.finish(Duration::from_secs(40)).await;
    let distinct: BTreeSet<u64> = agg.seen.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert_eq!(distinct.len() as u64, accepted, "{}", t.render_prometheus());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_opens_with_the_authenticators_header() {
    let agg = Aggregator {
        break_first_after: 5,
        ..Aggregator::default()
    };
    let (port, _server) = serve(agg.clone(), 0).await;
    let config = config(port, "auth: {authenticator: bearertokenauth}");
    let running = Running::start(
        &config,
        "signals/auth",
        host_with_token("token: agg-s3cret"),
    );
    running
        .tx
        .send(signal_batch("pod-a", 0, 20, 0))
        .await
        .unwrap();
    let t = running.finish(Duration::from_secs(20)).await;
    assert_eq!(all_signals(&t, "otelcol_exporter_sent"), 20);
    let auth = agg.authorization.lock().unwrap().clone();
    assert!(
        auth.len() >= 2,
        "the stream broke once and was reopened: {auth:?}"
    );
    assert!(
        auth.iter()
            .all(|a| a.as_deref() == Some("Bearer agg-s3cret")),
        "{auth:?}"
    );
}
