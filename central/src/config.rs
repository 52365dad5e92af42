//! The YAML of connector `hierarchy`, and its validation into [`HierarchyConnectorConfig`].
//!
//! The engine's own keys (`stale_after`, `damping`, `observer`, `reporter`, `correlation`,
//! `incidents`, `notify`'s policy, ...) are parsed as [`HierarchyConfig`] itself, so their
//! defaults, documentation and checks live in one place (`kafka_obs_cells`). The connector's
//! own keys are `tick_interval`, `export`, `api` (the query API and web view) and, under
//! `notify`, the channels it delivers to (`webhook`, `log`, `command`): `notify` holds both,
//! one place to read how an incident reaches people. `split` hands each its part of the
//! body (no `#[serde(flatten)]`, which would defeat `deny_unknown_fields`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use kafka_obs_api::{
    Capability, ComponentConfigError, ComponentId, ExtensionRef, RawAuthSettings,
    parse_component_config,
};
use kafka_obs_cells::{Hierarchy, HierarchyConfig, duration};
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::federation::{
    FederateSettings, FederationSettings, RawFederate, RawFederation, parse_federate,
    parse_federation,
};

/// The connector's own keys. Everything else in its body is the engine's and is parsed as
/// [`HierarchyConfig`] itself (see [`split`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    #[serde(with = "duration")]
    tick_interval: Duration,
    notify: RawNotify,
    export: RawExport,
    api: RawApi,
    federate: Option<RawFederate>,
    federation: RawFederation,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            tick_interval: Duration::from_secs(1),
            notify: RawNotify::default(),
            export: RawExport::default(),
            api: RawApi::default(),
            federate: None,
            federation: RawFederation::default(),
        }
    }
}

/// The channels under `notify`; the policy beside them (`min_situation`, `dedupe_interval`,
/// `update_interval`, `rate_limit`) is the engine's `notify`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawNotify {
    webhook: Option<RawWebhook>,
    log: bool,
    command: bool,
}

impl Default for RawNotify {
    fn default() -> Self {
        Self {
            webhook: None,
            log: true,
            command: false,
        }
    }
}

/// The connector's own top-level keys.
const OWN_KEYS: [&str; 5] = ["tick_interval", "export", "api", "federate", "federation"];
/// The connector's own keys under `notify`.
const OWN_NOTIFY_KEYS: [&str; 3] = ["webhook", "log", "command"];

/// Splits a connector body into the engine's part and the connector's own: the top-level
/// keys [`OWN_KEYS`] and the [`OWN_NOTIFY_KEYS`] under `notify` go to the connector, the rest
/// to the engine. Both halves keep their place in the body, so errors name the same key paths
/// (`damping::clear_after`, `notify::webhook::endpoint`), and both deny unknown fields, so a
/// key neither knows is refused (by the engine's half) under its full path. A body that is
/// not a mapping goes to the engine, which says so.
fn split(body: &Value) -> (Value, Value) {
    let Value::Mapping(map) = body else {
        return (body.clone(), Value::Null);
    };
    let mut engine = map.clone();
    let mut own = Mapping::new();
    for key in OWN_KEYS {
        if let Some(value) = engine.remove(key) {
            own.insert(key.into(), value);
        }
    }
    if let Some(Value::Mapping(notify)) = engine.get_mut("notify") {
        let mut channels = Mapping::new();
        for key in OWN_NOTIFY_KEYS {
            if let Some(value) = notify.remove(key) {
                channels.insert(key.into(), value);
            }
        }
        if !channels.is_empty() {
            own.insert("notify".into(), Value::Mapping(channels));
        }
    }
    (Value::Mapping(engine), Value::Mapping(own))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWebhook {
    endpoint: String,
    #[serde(with = "duration")]
    timeout: Duration,
    #[serde(deserialize_with = "kafka_obs_api::config::de::text_map")]
    headers: BTreeMap<String, String>,
    max_attempts: u32,
    #[serde(with = "duration")]
    retry_interval: Duration,
    queue_size: usize,
    send_resolved: bool,
}

impl Default for RawWebhook {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            timeout: Duration::from_secs(5),
            headers: BTreeMap::new(),
            max_attempts: 3,
            retry_interval: Duration::from_secs(1),
            queue_size: 100,
            send_resolved: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawExport {
    #[serde(with = "duration")]
    status_interval: Duration,
    status_batch_size: usize,
    status_changes: bool,
    traces: bool,
}

/// Points per status gauge request: ~300 bytes each encoded, so about 1.2 MB, well under the
/// 4 MiB an OTLP/gRPC receiver takes by default, however many cells there are.
pub const DEFAULT_STATUS_BATCH_SIZE: usize = 4096;

impl Default for RawExport {
    fn default() -> Self {
        Self {
            status_interval: Duration::from_secs(30),
            status_batch_size: DEFAULT_STATUS_BATCH_SIZE,
            status_changes: false,
            traces: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawApi {
    enabled: bool,
    endpoint: String,
    auth: Option<RawAuthSettings>,
    #[serde(with = "duration")]
    publish_interval: Duration,
    tree_depth: usize,
    #[serde(with = "duration")]
    write_timeout: Duration,
    max_live_clients: usize,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            enabled: true,
            endpoint: "127.0.0.1:8080".into(),
            auth: None,
            publish_interval: Duration::from_millis(500),
            tree_depth: 8,
            write_timeout: Duration::from_secs(10),
            max_live_clients: 256,
        }
    }
}

/// Where and how incidents are posted in Alertmanager's webhook shape.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// `http://` or `https://` URL the alerts are POSTed to.
    pub endpoint: Uri,
    /// Per attempt.
    pub timeout: Duration,
    /// Extra request headers (`Authorization`, ...).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Attempts per notification (1 = no retry).
    pub max_attempts: u32,
    /// Pause between attempts (doubled after each).
    pub retry_interval: Duration,
    /// Notifications waiting to be posted; beyond it new ones are dropped and counted.
    pub queue_size: usize,
    /// Post the close (with `endsAt`) too.
    pub send_resolved: bool,
}

/// The query API and web view.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSettings {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// The authenticator extension checking every request.
    pub auth: Option<ComponentId>,
    /// The live view gets a new snapshot at most this often.
    pub publish_interval: Duration,
    /// Levels of the tree below the root in the live snapshot.
    pub tree_depth: usize,
    /// A connection whose client took no bytes for this long is closed (a live view that
    /// stopped reading), and counted.
    pub write_timeout: Duration,
    /// Live-view (server-sent events) clients at once; more are answered 503 and counted.
    pub max_live_clients: usize,
}

/// The validated configuration of one `hierarchy` connector.
#[derive(Debug, Clone)]
pub struct HierarchyConnectorConfig {
    /// The engine's configuration (validated: `Hierarchy::new` accepts it).
    pub engine: HierarchyConfig,
    /// How often the engine's clock advances without signals.
    pub tick_interval: Duration,
    /// Notification channels.
    pub webhook: Option<WebhookSettings>,
    /// Log each performed notification.
    pub notify_log: bool,
    /// Emit an Actors COMMAND signal for each performed notification.
    pub notify_command: bool,
    /// Status gauge of every cell this often (0: never).
    pub status_interval: Duration,
    /// At most this many points per status gauge request (the snapshot is split).
    pub status_batch_size: usize,
    /// Export each cell's status changes (Statuses signals) besides its situation changes.
    pub status_changes: bool,
    /// Export closed incidents as traces.
    pub traces: bool,
    /// The query API, if enabled.
    pub api: Option<ApiSettings>,
    /// Federation upward (this hierarchy as a child), if configured.
    pub federate: Option<FederateSettings>,
    /// Federation from below (this hierarchy as a parent).
    pub federation: FederationSettings,
}

fn err(path: &str, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

fn parse_webhook(raw: &RawWebhook) -> Result<WebhookSettings, ComponentConfigError> {
    let path = "notify::webhook";
    if raw.endpoint.trim().is_empty() {
        return Err(err(
            &format!("{path}::endpoint"),
            "must be set, e.g. http://alertmanager:9093/api/v2/alerts",
        ));
    }
    let endpoint: Uri = raw.endpoint.trim().parse().map_err(|e| {
        err(
            &format!("{path}::endpoint"),
            format!("{:?} is not a URL: {e}", raw.endpoint),
        )
    })?;
    if !matches!(endpoint.scheme_str(), Some("http" | "https")) || endpoint.host().is_none() {
        return Err(err(
            &format!("{path}::endpoint"),
            format!(
                "{:?} must be an http:// or https:// URL with a host",
                raw.endpoint
            ),
        ));
    }
    if raw.timeout.is_zero() {
        return Err(err(
            &format!("{path}::timeout"),
            "must be above zero, e.g. 5s",
        ));
    }
    if raw.max_attempts == 0 || raw.max_attempts > 20 {
        return Err(err(
            &format!("{path}::max_attempts"),
            "must be between 1 (no retry) and 20",
        ));
    }
    if raw.queue_size == 0 {
        return Err(err(&format!("{path}::queue_size"), "must be at least 1"));
    }
    let mut headers = Vec::new();
    for (name, value) in &raw.headers {
        let key = format!("{path}::headers::{name}");
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| err(&key, "is not an HTTP header name"))?;
        let v = HeaderValue::from_str(value)
            .map_err(|_| err(&key, "is not a valid header value (printable ASCII)"))?;
        headers.push((n, v));
    }
    Ok(WebhookSettings {
        endpoint,
        timeout: raw.timeout,
        headers,
        max_attempts: raw.max_attempts,
        retry_interval: raw.retry_interval,
        queue_size: raw.queue_size,
        send_resolved: raw.send_resolved,
    })
}

fn parse_api(raw: &RawApi) -> Result<Option<ApiSettings>, ComponentConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    let endpoint = raw.endpoint.trim();
    let valid = endpoint.parse::<SocketAddr>().is_ok()
        || endpoint
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !valid {
        return Err(err(
            "api::endpoint",
            format!("{endpoint:?} is not host:port, e.g. 127.0.0.1:8080"),
        ));
    }
    let auth = raw
        .auth
        .as_ref()
        .map(|a| a.resolve().map_err(|e| e.within("auth").within("api")))
        .transpose()?;
    if raw.publish_interval < Duration::from_millis(50) {
        return Err(err(
            "api::publish_interval",
            "must be at least 50ms (the live view needs no more)",
        ));
    }
    if raw.tree_depth == 0 || raw.tree_depth > 64 {
        return Err(err("api::tree_depth", "must be between 1 and 64"));
    }
    if raw.write_timeout < Duration::from_millis(100) {
        return Err(err(
            "api::write_timeout",
            "must be at least 100ms; a slow network needs seconds (default 10s)",
        ));
    }
    if raw.max_live_clients == 0 {
        return Err(err(
            "api::max_live_clients",
            "must be at least 1; disable the API with api: {enabled: false} instead",
        ));
    }
    Ok(Some(ApiSettings {
        endpoint: endpoint.to_string(),
        auth,
        publish_interval: raw.publish_interval,
        tree_depth: raw.tree_depth,
        write_timeout: raw.write_timeout,
        max_live_clients: raw.max_live_clients,
    }))
}

impl HierarchyConnectorConfig {
    /// Parses and checks a `hierarchy` connector's body; pure.
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let (engine, own) = split(value);
        let engine: HierarchyConfig = parse_component_config(&engine)?;
        let raw: RawConfig = parse_component_config(&own)?;
        // The engine's own check (pure: builds an empty tree); its keys are ours too.
        Hierarchy::new(engine.clone()).map_err(|e| err(&e.key, e.message))?;
        if raw.tick_interval < Duration::from_millis(10) {
            return Err(err("tick_interval", "must be at least 10ms, e.g. 1s"));
        }
        let webhook = raw.notify.webhook.as_ref().map(parse_webhook).transpose()?;
        if raw.export.status_batch_size == 0 {
            return Err(err(
                "export::status_batch_size",
                "must be at least 1 (points per status gauge request), e.g. 4096",
            ));
        }
        Ok(Self {
            tick_interval: raw.tick_interval,
            webhook,
            notify_log: raw.notify.log,
            notify_command: raw.notify.command,
            status_interval: raw.export.status_interval,
            status_batch_size: raw.export.status_batch_size,
            status_changes: raw.export.status_changes,
            traces: raw.export.traces,
            api: parse_api(&raw.api)?,
            federate: raw
                .federate
                .as_ref()
                .map(|f| parse_federate(f, &engine.source_id))
                .transpose()?,
            federation: parse_federation(&raw.federation)?,
            engine,
        })
    }

    /// The API's listener, for the duplicate-port check.
    pub fn listen_addresses(&self) -> Vec<(String, String)> {
        self.api
            .iter()
            .map(|a| ("api::endpoint".to_string(), a.endpoint.clone()))
            .collect()
    }

    /// The authenticator the API names.
    pub fn extension_refs(&self) -> Vec<ExtensionRef> {
        self.api
            .iter()
            .filter_map(|a| a.auth.clone())
            .map(|id| ExtensionRef::new("api::auth::authenticator", id, Capability::Auth))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<HierarchyConnectorConfig, ComponentConfigError> {
        HierarchyConnectorConfig::parse(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn empty_body_is_all_defaults() {
        let s = HierarchyConnectorConfig::parse(&serde_yaml_ng::Value::Null).unwrap();
        assert_eq!(s.engine, HierarchyConfig::default());
        assert_eq!(s.tick_interval, Duration::from_secs(1));
        assert!(s.webhook.is_none());
        assert!(s.notify_log && !s.notify_command && s.traces && !s.status_changes);
        let api = s.api.as_ref().unwrap();
        assert_eq!(api.endpoint, "127.0.0.1:8080");
        assert_eq!(
            s.listen_addresses(),
            vec![("api::endpoint".to_string(), "127.0.0.1:8080".to_string())]
        );
        assert!(s.extension_refs().is_empty());
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let text = include_str!("../testdata/hierarchy.yaml");
        let s = parse(text).unwrap();
        assert_eq!(s.engine.stale_after, Duration::from_secs(120));
        assert_eq!(s.engine.damping.clear_after, Duration::from_secs(30));
        assert_eq!(
            s.engine.notify.min_situation,
            kafka_obs_signal::situations::Sign::Warning
        );
        assert_eq!(s.engine.notify.rate_limit.burst, 10);
        assert_eq!(s.engine.controller_grace, Duration::from_secs(45));
        let w = s.webhook.unwrap();
        assert_eq!(
            w.endpoint.to_string(),
            "http://alertmanager:9093/api/v2/alerts"
        );
        assert_eq!(w.headers.len(), 1);
        assert_eq!(w.max_attempts, 3);
        let api = s.api.unwrap();
        assert_eq!(api.endpoint, "0.0.0.0:8080");
        assert_eq!(api.write_timeout, Duration::from_secs(15));
        assert_eq!(api.max_live_clients, 64);
        assert_eq!(
            api.auth.map(|a| a.to_string()).as_deref(),
            Some("bearertokenauth")
        );
        assert!(s.notify_command);
        assert_eq!(s.status_interval, Duration::from_secs(15));
        assert_eq!(s.status_batch_size, 2000);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "export: {status_batch_size: 0}",
                "export::status_batch_size",
            ),
            (
                "notify: {webhook: {timeout: 1s}}",
                "notify::webhook::endpoint",
            ),
            (
                "notify: {webhook: {endpoint: ftp://x/}}",
                "notify::webhook::endpoint",
            ),
            (
                "notify: {webhook: {endpoint: 'http://x/', max_attempts: 0}}",
                "notify::webhook::max_attempts",
            ),
            ("notify: {min_situation: NORMAL}", "notify::min_situation"),
            ("notify: {min_situation: LOUD}", "notify::min_situation"),
            ("api: {endpoint: nowhere}", "api::endpoint"),
            (
                "api: {auth: {authenticator: ''}}",
                "api::auth::authenticator",
            ),
            ("api: {tree_depth: 0}", "api::tree_depth"),
            ("api: {write_timeout: 10ms}", "api::write_timeout"),
            ("api: {max_live_clients: 0}", "api::max_live_clients"),
            ("damping: {clear: 1s}", "damping::clear"),
            ("stale_after: 0s", "stale_after"),
            ("controller_grace: 30", "controller_grace"),
            ("tick_interval: 1ms", "tick_interval"),
            ("reporter: {volatile_at: 99}", "reporter::volatile_at"),
            ("bogus: 1", "bogus"),
            ("notify: {bogus: 1}", "notify::bogus"),
            ("notify: {webhook: {bogus: 1}}", "notify::webhook::bogus"),
            (
                "notify: {rate_limit: {burst: 0}}",
                "notify::rate_limit::burst",
            ),
            ("export: {bogus: 1}", "export::bogus"),
            ("api: {bogus: 1}", "api::bogus"),
            (
                "observer: {scorecard: {decay: 2}}",
                "observer::scorecard::decay",
            ),
        ];
        for (yaml, path) in cases {
            let e = parse(yaml).err().unwrap_or_else(|| panic!("{yaml} passed"));
            assert_eq!(e.path, path, "{yaml}: {e}");
        }
        let e = parse("stale_after: 30").err().unwrap();
        assert!(e.message.contains("unit"), "{e}");
        let e = parse("notify: {min_situation: LOUD}").err().unwrap();
        assert!(e.message.contains("write WARNING or CRITICAL"), "{e}");
        let e = parse("[1, 2]").err().unwrap();
        assert!(e.message.contains("expected a map of settings"), "{e}");
    }

    #[test]
    fn api_can_be_switched_off() {
        let s = parse("api: {enabled: false}").unwrap();
        assert!(s.api.is_none());
        assert!(s.listen_addresses().is_empty());
    }
}
