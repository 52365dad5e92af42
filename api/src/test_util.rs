//! Test helpers for component crates (the `test-util` feature; never in a release build):
//! a [`BuildContext`] for one component built on its own, without the runtime, and the
//! channels that stand in for the pipelines around it.
//!
//! Component tests used to write the five fields of a `BuildContext`, the four of a
//! `RunContext` and the five of a `Route` by hand; they now say only what matters to the test
//! (kind, id, the signals it sees, perhaps a host with an extension's capability; a channel's
//! size and whether the hop passes receipts on) and read counters from `ctx.telemetry`.

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::{BuildContext, Host, Outputs, RunContext};
use crate::data::DataKind;
use crate::health::HealthRegistry;
use crate::id::{ComponentId, ComponentKind};
use crate::listeners::Listeners;
use crate::output::{Output, OverflowPolicy, Route};
use crate::receipt::Parcel;
use crate::telemetry::Telemetry;

impl BuildContext {
    /// The context of component `id` (`otlp`, `file/test`) of `kind` built alone: it sees
    /// `kinds`, counts in a fresh [`Telemetry`] (read it through `ctx.telemetry`), reports
    /// to a fresh [`HealthRegistry`] and finds no extension in its [`Host`].
    ///
    /// # Panics
    /// When `id` is not a valid component id (a test's own constant).
    pub fn for_test(kind: ComponentKind, id: &str, kinds: &[DataKind]) -> Self {
        #[allow(clippy::expect_used)]
        let id: ComponentId = id.parse().expect("a valid component id");
        Self::new(
            kind,
            &id,
            &Telemetry::new(),
            &HealthRegistry::new(),
            &Host::default(),
            &Listeners::default(),
            kinds.to_vec(),
        )
    }

    /// This context with the capabilities of `host` (an extension the component uses).
    pub fn with_host(mut self, host: Host) -> Self {
        self.host = host;
        self
    }

    /// This context counting in `telemetry`, a registry the test reads or shares.
    pub fn with_telemetry(mut self, telemetry: &Telemetry) -> Self {
        self.telemetry = telemetry.component(self.telemetry.kind(), &self.id);
        self
    }

    /// The [`RunContext`] that goes with it, and the token that stops the component.
    pub fn run_for_test(&self) -> (RunContext, CancellationToken) {
        let stop = CancellationToken::new();
        (self.run_context(stop.clone()), stop)
    }
}

impl Output {
    /// One blocking route to a bounded channel of `capacity`, as a pipeline's input (or the
    /// next stage) looks to a component; `passes_receipt` as the runtime sets it for the hop
    /// (false: the receipt is accepted once queued; true: the test settles it).
    pub fn for_test(
        target: &str,
        capacity: usize,
        passes_receipt: bool,
    ) -> (Output, mpsc::Receiver<Parcel>) {
        let (tx, rx) = mpsc::channel(capacity);
        let route = Route {
            target: target.to_string(),
            tx,
            policy: OverflowPolicy::Block,
            passes_receipt,
            dropped: Default::default(),
        };
        (Output::new(vec![route]), rx)
    }
}

impl Outputs {
    /// One [`Output::for_test`] per kind in `kinds` (a receiver's or connector's pipelines).
    pub fn for_test(
        kinds: &[DataKind],
        capacity: usize,
        passes_receipt: bool,
    ) -> (Outputs, BTreeMap<DataKind, mpsc::Receiver<Parcel>>) {
        let mut outputs = BTreeMap::new();
        let mut receivers = BTreeMap::new();
        for &kind in kinds {
            let (output, rx) =
                Output::for_test(&format!("{kind} pipeline"), capacity, passes_receipt);
            outputs.insert(kind, output);
            receivers.insert(kind, rx);
        }
        (Outputs::new(outputs), receivers)
    }
}
