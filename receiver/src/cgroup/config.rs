//! The `cgroup` receiver's configuration, validated.
//!
//! ```yaml
//! cgroup:
//!   collection_interval: 10s
//!   initial_delay: 0s
//!   root_path: /                 # like hostmetrics: a mounted host fs (/hostfs) or a test fixture
//!   cgroup_path: ""              # below <root_path>/sys/fs/cgroup; default: the watched process's (or our own) cgroup
//!   process:                     # optional: the process whose restarts and file descriptors are watched
//!     command_line: kafka.Kafka  # or pid: 1, or pid_file: /run/app.pid (exactly one)
//!   resource_attributes: {service.name: orders, service.instance.id: orders-0}
//!   downward_api:                # environment variables the pod spec fills from the downward API
//!     pod_name_env: K8S_POD_NAME
//!     namespace_env: K8S_NAMESPACE_NAME
//!     container_name_env: K8S_CONTAINER_NAME
//! ```
//!
//! [`RawConfig`] mirrors the YAML; [`CgroupReceiverConfig::resolve`] checks it, so `build`
//! only meets valid values (a regex that compiles, exactly one way to find the process).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_api::config::de;

pub const DEFAULT_COLLECTION_INTERVAL: Duration = Duration::from_secs(10);

/// How the watched process is found on each poll.
#[derive(Debug, Clone)]
pub enum ProcessMatch {
    Pid(u32),
    /// A file holding the pid (re-read every poll: a restarted process writes a new one).
    PidFile(PathBuf),
    /// The first process (lowest pid, ourselves excluded) whose command line, arguments
    /// joined by spaces, matches.
    CommandLine(Regex),
}

impl PartialEq for ProcessMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Pid(a), Self::Pid(b)) => a == b,
            (Self::PidFile(a), Self::PidFile(b)) => a == b,
            (Self::CommandLine(a), Self::CommandLine(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// Environment variable names the Kubernetes downward API fills.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownwardApi {
    /// Read into `k8s.pod.name`.
    pub pod_name_env: String,
    /// Read into `k8s.namespace.name`.
    pub namespace_env: String,
    /// Read into `container.name` (and `k8s.container.name`).
    pub container_name_env: String,
}

impl Default for DownwardApi {
    fn default() -> Self {
        Self {
            pod_name_env: "K8S_POD_NAME".into(),
            namespace_env: "K8S_NAMESPACE_NAME".into(),
            container_name_env: "K8S_CONTAINER_NAME".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProcess {
    pid: Option<u32>,
    pid_file: Option<PathBuf>,
    command_line: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    #[serde(deserialize_with = "de::duration")]
    collection_interval: Duration,
    #[serde(deserialize_with = "de::duration")]
    initial_delay: Duration,
    root_path: PathBuf,
    cgroup_path: Option<String>,
    process: Option<RawProcess>,
    #[serde(deserialize_with = "de::text_map")]
    resource_attributes: BTreeMap<String, String>,
    downward_api: DownwardApi,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            collection_interval: DEFAULT_COLLECTION_INTERVAL,
            initial_delay: Duration::ZERO,
            root_path: PathBuf::from("/"),
            cgroup_path: None,
            process: None,
            resource_attributes: BTreeMap::new(),
            downward_api: DownwardApi::default(),
        }
    }
}

/// The validated configuration of one `cgroup` receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupReceiverConfig {
    pub collection_interval: Duration,
    pub initial_delay: Duration,
    /// Absolute; `/proc` and `/sys/fs/cgroup` are read below it.
    pub root_path: PathBuf,
    /// Relative to `<root_path>/sys/fs/cgroup` (v2) or to each controller's mount (v1).
    pub cgroup_path: Option<String>,
    pub process: Option<ProcessMatch>,
    pub resource_attributes: BTreeMap<String, String>,
    pub downward_api: DownwardApi,
}

fn err(path: &str, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

impl RawConfig {
    pub fn resolve(self) -> Result<CgroupReceiverConfig, ComponentConfigError> {
        if self.collection_interval.is_zero() {
            return Err(err("collection_interval", "must be above zero, e.g. 10s"));
        }
        if !self.root_path.is_absolute() {
            return Err(err(
                "root_path",
                format!(
                    "`{}` is not an absolute path; write `/` or where the host filesystem is mounted, e.g. /hostfs",
                    self.root_path.display()
                ),
            ));
        }
        if let Some(p) = &self.cgroup_path
            && p.split('/').any(|part| part == "..")
        {
            return Err(err(
                "cgroup_path",
                "must stay below sys/fs/cgroup; remove the `..`",
            ));
        }
        let process = self.process.map(resolve_process).transpose()?;
        for key in self.resource_attributes.keys() {
            if key.is_empty() {
                return Err(err("resource_attributes", "an attribute key is empty"));
            }
        }
        let d = &self.downward_api;
        for (key, value) in [
            ("pod_name_env", &d.pod_name_env),
            ("namespace_env", &d.namespace_env),
            ("container_name_env", &d.container_name_env),
        ] {
            if value.is_empty() {
                return Err(err(
                    &format!("downward_api::{key}"),
                    "is empty; name the environment variable the pod spec sets (fieldRef), e.g. K8S_POD_NAME",
                ));
            }
        }
        Ok(CgroupReceiverConfig {
            collection_interval: self.collection_interval,
            initial_delay: self.initial_delay,
            root_path: self.root_path,
            cgroup_path: self.cgroup_path.filter(|p| !p.is_empty()),
            process,
            resource_attributes: self.resource_attributes,
            downward_api: self.downward_api,
        })
    }
}

fn resolve_process(raw: RawProcess) -> Result<ProcessMatch, ComponentConfigError> {
    let given = [
        raw.pid.is_some(),
        raw.pid_file.is_some(),
        raw.command_line.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(err(
            "process",
            "give exactly one of pid, pid_file or command_line",
        ));
    }
    if let Some(pid) = raw.pid {
        if pid == 0 {
            return Err(err("process::pid", "must be above 0"));
        }
        return Ok(ProcessMatch::Pid(pid));
    }
    if let Some(file) = raw.pid_file {
        if file.as_os_str().is_empty() {
            return Err(err(
                "process::pid_file",
                "is empty; give the pid file's path",
            ));
        }
        return Ok(ProcessMatch::PidFile(file));
    }
    let pattern = raw.command_line.unwrap_or_default();
    if pattern.is_empty() {
        return Err(err(
            "process::command_line",
            "is empty; give a regular expression the process's command line matches, e.g. kafka\\.Kafka",
        ));
    }
    Regex::new(&pattern)
        .map(ProcessMatch::CommandLine)
        .map_err(|e| {
            err(
                "process::command_line",
                format!("is not a valid regular expression: {e}"),
            )
        })
}
