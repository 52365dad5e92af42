//! The `hierarchy` connector started as the runtime starts it, with its three outputs on
//! channels: shared by the connector tests and the connector bench.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use kafka_obs_api::{BuildContext, ComponentKind, DataKind, Output, Parcel, Telemetry};
use tokio::sync::mpsc;

pub struct Running {
    pub tx: mpsc::Sender<Parcel>,
    pub logs: mpsc::Receiver<Parcel>,
    pub traces: mpsc::Receiver<Parcel>,
    pub metrics: mpsc::Receiver<Parcel>,
    pub task: tokio::task::JoinHandle<()>,
    pub telemetry: Telemetry,
}

pub fn route(name: &str) -> (Output, mpsc::Receiver<Parcel>) {
    Output::for_test(name, 256, false)
}

pub fn start(yaml: &str) -> Running {
    let config = kafka_obs_central::FACTORY
        .validate(&serde_yaml_ng::from_str(yaml).unwrap())
        .unwrap();
    let ctx = BuildContext::for_test(ComponentKind::Connector, "hierarchy", &[DataKind::Logs]);
    let telemetry = ctx.telemetry.registry().clone();
    let connector = config.build(&ctx).unwrap();
    let (l, logs) = route("logs");
    let (m, metrics) = route("metrics");
    let (t, traces) = route("traces");
    let outputs = kafka_obs_api::Outputs::new(BTreeMap::from([
        (DataKind::Logs, l),
        (DataKind::Metrics, m),
        (DataKind::Traces, t),
    ]));
    let (tx, rx) = mpsc::channel(16);
    let (run_ctx, _) = ctx.run_for_test();
    let run = connector.run(rx, outputs, run_ctx);
    let task = tokio::spawn(async move {
        run.await.unwrap();
    });
    Running {
        tx,
        logs,
        traces,
        metrics,
        task,
        telemetry,
    }
}
