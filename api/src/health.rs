//! The live status of every component, read by the `health_check` extension and the CLI.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentStatus {
    Starting,
    Running,
    /// The component stopped working; the text says why.
    Failed(String),
    Stopped,
}

/// Shared map of `component id -> status`.
#[derive(Clone, Debug, Default)]
pub struct HealthRegistry {
    inner: Arc<Mutex<BTreeMap<String, ComponentStatus>>>,
}

impl HealthRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ComponentStatus>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, component: &str, status: ComponentStatus) {
        self.lock().insert(component.to_string(), status);
    }

    pub fn get(&self, component: &str) -> Option<ComponentStatus> {
        self.lock().get(component).cloned()
    }

    pub fn snapshot(&self) -> BTreeMap<String, ComponentStatus> {
        self.lock().clone()
    }

    /// The components that are not running, with the reason; empty when all is well.
    pub fn unhealthy(&self) -> Vec<(String, ComponentStatus)> {
        self.lock()
            .iter()
            .filter(|(_, s)| **s != ComponentStatus::Running)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }
}
