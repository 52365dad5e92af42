//! The `hierarchy` connector started as the runtime starts it, with its three outputs on
//! channels: shared by the connector tests and the connector bench.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use kafka_obs_api::{
    BuildContext, ComponentId, ComponentKind, ConnectorFactory, Counter, DataKind, HealthRegistry,
    Host, Output, OverflowPolicy, Parcel, Route, RunContext, Telemetry,
};
use kafka_obs_central::HierarchyConnectorFactory;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub struct Running {
    pub tx: mpsc::Sender<Parcel>,
    pub logs: mpsc::Receiver<Parcel>,
    pub traces: mpsc::Receiver<Parcel>,
    pub metrics: mpsc::Receiver<Parcel>,
    pub task: tokio::task::JoinHandle<()>,
    pub telemetry: Telemetry,
}

pub fn route(name: &str) -> (Output, mpsc::Receiver<Parcel>) {
    let (tx, rx) = mpsc::channel(256);
    (
        Output::new(vec![Route {
            target: name.into(),
            tx,
            policy: OverflowPolicy::Block,
            passes_receipt: false,
            dropped: Counter::default(),
        }]),
        rx,
    )
}

pub fn start(yaml: &str) -> Running {
    let factory = HierarchyConnectorFactory;
    let config = factory
        .validate(&serde_yaml_ng::from_str(yaml).unwrap())
        .unwrap();
    let id: ComponentId = "hierarchy".parse().unwrap();
    let telemetry = Telemetry::new();
    let ctx = BuildContext {
        id: id.clone(),
        telemetry: telemetry.component(ComponentKind::Connector, &id),
        health: HealthRegistry::default(),
        host: Host::default(),
        kinds: vec![DataKind::Logs],
    };
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
    let run = connector.run(
        rx,
        outputs,
        RunContext {
            id,
            telemetry: ctx.telemetry.clone(),
            health: ctx.health.clone(),
            shutdown: CancellationToken::new(),
        },
    );
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
