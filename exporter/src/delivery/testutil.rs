//! Test helpers for the delivery layer: a scripted transport and small batches.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use kafka_obs_api::{Batch, ComponentId, ComponentKind, DataKind, Telemetry};

use super::retry::{Counters, DeliveryError, Outcome, Transport};

type Step = Result<Outcome, DeliveryError>;

/// Answers from a script, then success (or `always` forever); records batch sizes.
pub struct Script {
    steps: Mutex<VecDeque<Step>>,
    always: Option<fn() -> Step>,
    sizes: Mutex<Vec<usize>>,
}

impl Script {
    pub fn new(steps: Vec<Step>) -> Self {
        Self {
            steps: Mutex::new(steps.into()),
            always: None,
            sizes: Mutex::new(Vec::new()),
        }
    }

    pub fn always(f: fn() -> Step) -> Self {
        Self {
            steps: Mutex::new(VecDeque::new()),
            always: Some(f),
            sizes: Mutex::new(Vec::new()),
        }
    }

    pub fn calls(&self) -> usize {
        self.sizes.lock().unwrap().len()
    }

    pub fn sizes(&self) -> Vec<usize> {
        self.sizes.lock().unwrap().clone()
    }
}

impl Transport for Script {
    fn send<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Outcome, DeliveryError>> {
        let items = batch.item_count();
        self.sizes.lock().unwrap().push(items);
        let step = self.steps.lock().unwrap().pop_front();
        let r = match (step, self.always) {
            (Some(s), _) => s,
            (None, Some(f)) => f(),
            (None, None) => Ok(Outcome::all(items as u64)),
        };
        async move { r }.boxed()
    }
}

pub fn log_batch(n: usize) -> Batch {
    Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..n)
                    .map(|i| LogRecord {
                        time_unix_nano: i as u64,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

pub fn telemetry() -> (Telemetry, Counters) {
    let t = Telemetry::new();
    let id: ComponentId = "test".parse().unwrap();
    let c = Counters::new(&t.component(ComponentKind::Exporter, &id), DataKind::Logs);
    (t, c)
}
