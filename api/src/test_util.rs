//! Test helpers for component crates (the `test-util` feature; never in a release build):
//! a [`BuildContext`] for one component built on its own, without the runtime.
//!
//! Component tests used to write the five fields of a `BuildContext` and the four of a
//! `RunContext` by hand; they now say only what matters to the test (kind, id, the signals it
//! sees, perhaps a host with an extension's capability) and read counters from
//! `ctx.telemetry`.

use tokio_util::sync::CancellationToken;

use crate::component::{BuildContext, Host, RunContext};
use crate::data::DataKind;
use crate::health::HealthRegistry;
use crate::id::{ComponentId, ComponentKind};
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
