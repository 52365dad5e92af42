//! The `kafka_admin` receiver's keys (OpenTelemetry's `kafkametrics` spellings where it has
//! them), read as written ([`RawConfig`]) and resolved into [`KafkaAdminConfig`], which holds
//! only valid settings: compiled regexes, checked brokers, a TLS setting the client can use.

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_api::config::de;
use kafka_obs_kafka_client::{Auth, DEFAULT_BROKER, DEFAULT_CLIENT_ID, check_brokers};
use kafka_obs_net::TlsConfig;

/// kafkametrics' default `collection_interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Each request's deadline (kafkametrics' client default is 10 s too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// (end offset, time) samples kept per partition for time lag: an hour at the default
/// interval, about 1 KiB per partition.
pub const DEFAULT_TIME_LAG_SAMPLES: usize = 60;
/// Topics left out unless `topics.exclude` is given: the brokers' own bookkeeping.
pub const DEFAULT_TOPIC_EXCLUDE: &[&str] = &["^__consumer_offsets$", "^__transaction_state$"];

/// `groups` / `topics`: which names to read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFilter {
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
}

/// `time_lag`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTimeLag {
    max_samples: Option<usize>,
}

/// The body as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    brokers: Option<Vec<String>>,
    client_id: Option<String>,
    auth: Auth,
    #[serde(deserialize_with = "de::opt_duration")]
    collection_interval: Option<Duration>,
    #[serde(deserialize_with = "de::opt_duration")]
    initial_delay: Option<Duration>,
    #[serde(deserialize_with = "de::opt_duration")]
    timeout: Option<Duration>,
    cluster_alias: Option<String>,
    groups: Option<RawFilter>,
    topics: Option<RawFilter>,
    /// kafkametrics' spelling: one regex of the groups to read.
    group_match: Option<String>,
    /// kafkametrics' spelling: one regex of the topics to read.
    topic_match: Option<String>,
    time_lag: RawTimeLag,
}

/// Names a name filter lets through: any `include` regex matches (none given: all) and no
/// `exclude` regex does. Regexes are unanchored, as kafkametrics' `group_match` is.
#[derive(Debug, Clone)]
pub struct NameFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl NameFilter {
    pub fn allows(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }

    /// A filter that lets everything through.
    pub fn all() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

/// SASL credentials the receiver's client speaks (PLAIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslPlain {
    pub username: String,
    pub password: String,
}

/// The validated configuration of one `kafka_admin` receiver.
#[derive(Debug, Clone)]
pub struct KafkaAdminConfig {
    pub brokers: Vec<String>,
    pub client_id: String,
    pub tls: Option<TlsConfig>,
    pub sasl: Option<SaslPlain>,
    pub collection_interval: Duration,
    pub initial_delay: Duration,
    pub timeout: Duration,
    pub cluster_alias: Option<String>,
    pub groups: NameFilter,
    pub topics: NameFilter,
    pub time_lag_samples: usize,
}

impl RawConfig {
    /// Checks every key; errors name the key path below the receiver.
    pub fn resolve(self) -> Result<KafkaAdminConfig, ComponentConfigError> {
        let mut errors = Vec::new();
        let brokers = self
            .brokers
            .unwrap_or_else(|| vec![DEFAULT_BROKER.to_string()]);
        if let Err(e) = check_brokers(&brokers) {
            errors.push(e);
        }
        let positive = |key: &str, d: Option<Duration>, default: Duration| match d {
            Some(d) if d.is_zero() => Err(ComponentConfigError::new(
                key,
                "must be more than 0, such as 30s",
            )),
            Some(d) => Ok(d),
            None => Ok(default),
        };
        let collection_interval = positive(
            "collection_interval",
            self.collection_interval,
            DEFAULT_INTERVAL,
        )
        .map_err(|e| errors.push(e))
        .unwrap_or(DEFAULT_INTERVAL);
        let timeout = positive("timeout", self.timeout, DEFAULT_TIMEOUT)
            .map_err(|e| errors.push(e))
            .unwrap_or(DEFAULT_TIMEOUT);
        let (tls, sasl) = match auth(&self.auth) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e);
                (None, None)
            }
        };
        let groups = filter("groups", "group_match", self.groups, self.group_match, &[])
            .map_err(|e| errors.push(e))
            .unwrap_or_else(|()| NameFilter::all());
        let topics = filter(
            "topics",
            "topic_match",
            self.topics,
            self.topic_match,
            DEFAULT_TOPIC_EXCLUDE,
        )
        .map_err(|e| errors.push(e))
        .unwrap_or_else(|()| NameFilter::all());
        let time_lag_samples = self
            .time_lag
            .max_samples
            .unwrap_or(DEFAULT_TIME_LAG_SAMPLES);
        if time_lag_samples < 2 {
            errors.push(
                ComponentConfigError::new(
                    "max_samples",
                    "must be at least 2: time lag interpolates between two samples",
                )
                .within("time_lag"),
            );
        }
        let cluster_alias = self.cluster_alias.filter(|a| !a.trim().is_empty());
        let client_id = self
            .client_id
            .unwrap_or_else(|| DEFAULT_CLIENT_ID.to_string());
        if let Some(e) = ComponentConfigError::from_all(errors) {
            return Err(e);
        }
        Ok(KafkaAdminConfig {
            brokers,
            client_id,
            tls,
            sasl,
            collection_interval,
            initial_delay: self.initial_delay.unwrap_or(Duration::ZERO),
            timeout,
            cluster_alias,
            groups,
            topics,
            time_lag_samples,
        })
    }
}

/// The shared `auth` block, as this receiver's client uses it: TLS through rustls, SASL PLAIN.
fn auth(auth: &Auth) -> Result<(Option<TlsConfig>, Option<SaslPlain>), ComponentConfigError> {
    // The same checks (and errors) as the kafka exporter and receiver.
    kafka_obs_kafka_client::auth::properties(auth, &mut Vec::new())?;
    let tls = auth
        .tls
        .as_ref()
        .filter(|t| !t.insecure)
        .map(|t| TlsConfig {
            insecure: false,
            ca_file: t.ca_file.as_ref().map(Into::into),
            cert_file: t.cert_file.as_ref().map(Into::into),
            key_file: t.key_file.as_ref().map(Into::into),
            insecure_skip_verify: t.insecure_skip_verify,
            server_name_override: None,
        });
    let sasl = match &auth.sasl {
        None => None,
        Some(s) => {
            let mechanism = s.mechanism.as_deref().unwrap_or("PLAIN");
            if mechanism != "PLAIN" {
                return Err(ComponentConfigError::new(
                    "mechanism",
                    format!(
                        "{mechanism} is not spoken by the kafka_admin receiver yet; use PLAIN (over TLS) for its user"
                    ),
                )
                .within("sasl")
                .within("auth"));
            }
            Some(SaslPlain {
                username: s.username.clone().unwrap_or_default(),
                password: s.password.clone().unwrap_or_default(),
            })
        }
    };
    Ok((tls, sasl))
}

/// `groups`/`topics` (`include`/`exclude`) or kafkametrics' single `*_match` regex.
fn filter(
    key: &str,
    match_key: &str,
    raw: Option<RawFilter>,
    single: Option<String>,
    default_exclude: &[&str],
) -> Result<NameFilter, ComponentConfigError> {
    let raw = match (raw, single) {
        (Some(_), Some(_)) => {
            return Err(ComponentConfigError::new(
                match_key,
                format!("give either {key} (include/exclude) or {match_key}, not both"),
            ));
        }
        (Some(raw), None) => raw,
        (None, Some(single)) => {
            return Ok(NameFilter {
                include: vec![compile(match_key, None, &single)?],
                exclude: compile_all(key, "exclude", default_exclude)?,
            });
        }
        (None, None) => RawFilter::default(),
    };
    let include = compile_all(key, "include", raw.include.as_deref().unwrap_or_default())?;
    let exclude = match raw.exclude {
        Some(list) => compile_all(key, "exclude", &list)?,
        None => compile_all(key, "exclude", default_exclude)?,
    };
    Ok(NameFilter { include, exclude })
}

fn compile_all<S: AsRef<str>>(
    key: &str,
    list: &str,
    patterns: &[S],
) -> Result<Vec<Regex>, ComponentConfigError> {
    patterns
        .iter()
        .map(|p| compile(key, Some(list), p.as_ref()))
        .collect()
}

fn compile(key: &str, list: Option<&str>, pattern: &str) -> Result<Regex, ComponentConfigError> {
    Regex::new(pattern).map_err(|e| {
        let message = format!("{pattern:?} is not a regular expression: {e}");
        match list {
            Some(list) => ComponentConfigError::new(list, message).within(key),
            None => ComponentConfigError::new(key, message),
        }
    })
}
