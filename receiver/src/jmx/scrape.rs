//! One poll of one JVM: find the MBeans the rules name, read each one's attributes in a single
//! batched `getAttributes`, and turn the values into readings.
//!
//! The [`Plan`] is computed once per receiver: every distinct bean pattern with the rules that
//! use it. `queryNames` runs only for real patterns (a plain name is read directly; if it is not
//! registered the server says so and the MBean is skipped), and its answers are kept in a
//! [`NameCache`] between polls, so a steady-state poll is one `getAttributes` per MBean and
//! nothing else. The cache's rules, which decide how fast new and vanished MBeans show:
//!
//! - a pattern is queried again once `mbean_refresh_interval` has passed since its last query
//!   (zero: on every poll), so new clients, topics and partitions appear within that period;
//! - a read that answers `InstanceNotFoundException` drops that MBean from the cache at once (its
//!   series stop with that poll) and makes the patterns that matched it *hot*: they are queried
//!   on every poll for the next refresh period, because a vanished client is usually coming back
//!   (a restart, a rebalance) and should reappear within one interval;
//! - a new JVM start time (a restart behind a transparent reconnect) or a failed poll empties
//!   the cache.
//!
//! The calls of a poll are independent, so they are spread over the target's sessions (one call
//! at a time per JRMP connection): each session takes the next pending call until none is left.
//! The due `queryNames` calls run first, then every read, the `Runtime` start time included.
//! Errors about one MBean (not found, an attribute missing, a getter that threw) skip that MBean
//! with one warning; errors about the connection fail the poll, which the caller turns into
//! `target.up = 0`. NaN, infinities and other implausible values are dropped (and counted) in
//! `convert`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use kafka_obs_jmx::{JmxClient, JmxError, ObjectName, Value};

use super::rules::{AttrSource, MetricDef, Rule};

/// The few calls a poll makes, so the poll logic can be tested without a JVM.
pub(crate) trait MBeanSource {
    fn query_names(
        &mut self,
        pattern: &ObjectName,
    ) -> impl Future<Output = Result<Vec<ObjectName>, JmxError>> + Send;

    fn get_attributes(
        &mut self,
        name: &ObjectName,
        attributes: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Value)>, JmxError>> + Send;
}

impl MBeanSource for JmxClient {
    fn query_names(
        &mut self,
        pattern: &ObjectName,
    ) -> impl Future<Output = Result<Vec<ObjectName>, JmxError>> + Send {
        JmxClient::query_names(self, pattern)
    }

    fn get_attributes(
        &mut self,
        name: &ObjectName,
        attributes: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Value)>, JmxError>> + Send {
        JmxClient::get_attributes(self, name, attributes)
    }
}

/// A bean pattern and the rules that use it.
#[derive(Debug, Clone)]
struct PatternQuery {
    pattern: ObjectName,
    rules: Vec<usize>,
}

/// What to ask every target for: the rules, grouped by bean pattern.
#[derive(Debug, Clone)]
pub struct Plan {
    rules: Vec<Rule>,
    queries: Vec<PatternQuery>,
    runtime: ObjectName,
}

impl Plan {
    pub fn new(rules: Vec<Rule>) -> Plan {
        let mut by_pattern: BTreeMap<String, PatternQuery> = BTreeMap::new();
        for (i, rule) in rules.iter().enumerate() {
            for bean in &rule.beans {
                let q = by_pattern
                    .entry(bean.canonical())
                    .or_insert_with(|| PatternQuery {
                        pattern: bean.clone(),
                        rules: Vec::new(),
                    });
                if !q.rules.contains(&i) {
                    q.rules.push(i);
                }
            }
        }
        Plan {
            rules,
            queries: by_pattern.into_values().collect(),
            // A constant that parses; `Plan::new` cannot fail for it.
            runtime: ObjectName::parse(RUNTIME_MBEAN).unwrap_or_else(|_| ObjectName::wildcard()),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn metric(&self, rule: usize, metric: usize) -> Option<&MetricDef> {
        self.rules.get(rule)?.metrics.get(metric)
    }

    /// How many bean patterns a poll looks at.
    pub fn pattern_count(&self) -> usize {
        self.queries.len()
    }
}

/// Where the JVM's start time comes from (to tell a JVM restart from a counter reset).
const RUNTIME_MBEAN: &str = "java.lang:type=Runtime";

/// A numeric reading, keeping integers integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Double(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(v) => v as f64,
            Number::Double(v) => v,
        }
    }

    fn of(value: &Value) -> Option<Number> {
        match *value {
            Value::Long(v) => Some(Number::Int(v)),
            Value::Int(v) => Some(Number::Int(i64::from(v))),
            Value::Double(v) => Some(Number::Double(v)),
            Value::Float(v) => Some(Number::Double(f64::from(v))),
            Value::Boolean(v) => Some(Number::Int(i64::from(v))),
            _ => None,
        }
    }
}

/// One data point to be: which metric, its attributes (sorted by key), its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub rule: usize,
    pub metric: usize,
    pub attributes: Vec<(String, String)>,
    pub value: Number,
}

/// What one poll found.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub readings: Vec<Reading>,
    /// `java.lang:type=Runtime` `StartTime` (ms since the epoch), when readable.
    pub jvm_start_ms: Option<i64>,
    /// MBeans read.
    pub mbeans: usize,
}

/// Remembers what was already warned about, so a missing attribute warns once, not per poll.
#[derive(Debug, Default)]
pub struct Warnings {
    seen: HashSet<String>,
}

/// Enough for every distinct problem a real target has; beyond it, warnings go to debug.
const MAX_WARNINGS: usize = 512;

impl Warnings {
    fn first(&mut self, key: String) -> bool {
        if self.seen.len() >= MAX_WARNINGS {
            return false;
        }
        self.seen.insert(key)
    }
}

/// Errors that concern one MBean (skip it) rather than the connection (fail the poll).
fn about_one_mbean(e: &JmxError) -> bool {
    matches!(
        e,
        JmxError::InstanceNotFound { .. }
            | JmxError::AttributeNotFound { .. }
            | JmxError::AccessDenied { .. }
            | JmxError::Remote { .. }
    )
}

/// `queryNames` answers kept between polls, per bean pattern of the [`Plan`] (see the module
/// docs for the rules).
#[derive(Debug)]
pub struct NameCache {
    refresh: Duration,
    /// By index into the plan's patterns.
    entries: HashMap<usize, Cached>,
    jvm_start_ms: Option<i64>,
}

#[derive(Debug)]
struct Cached {
    /// Canonical name and name, in the server's order.
    names: Vec<(String, ObjectName)>,
    queried_at: Instant,
    /// Queried on every poll until then (an MBean it matched vanished).
    hot_until: Option<Instant>,
}

impl NameCache {
    /// A cache that re-queries each pattern every `refresh` (zero: on every poll).
    pub fn new(refresh: Duration) -> Self {
        NameCache {
            refresh,
            entries: HashMap::new(),
            jvm_start_ms: None,
        }
    }

    /// Whether pattern `query` must be queried on a poll starting at `now`.
    fn due(&self, query: usize, now: Instant) -> bool {
        let Some(c) = self.entries.get(&query) else {
            return true;
        };
        if self.refresh.is_zero() || c.hot_until.is_some_and(|t| now < t) {
            return true;
        }
        // A twentieth of slack, so a refresh every 60 s at a 10 s interval is every 6th poll
        // even when the polls start a little early.
        now.saturating_duration_since(c.queried_at) + self.refresh / 20 >= self.refresh
    }

    fn store(&mut self, query: usize, names: Vec<ObjectName>, now: Instant) {
        let names = names.into_iter().map(|n| (n.canonical(), n)).collect();
        let hot_until = self
            .entries
            .get(&query)
            .and_then(|c| c.hot_until)
            .filter(|&t| now < t);
        self.entries.insert(
            query,
            Cached {
                names,
                queried_at: now,
                hot_until,
            },
        );
    }

    fn forget(&mut self, query: usize) {
        self.entries.remove(&query);
    }

    fn names(&self, query: usize) -> &[(String, ObjectName)] {
        self.entries
            .get(&query)
            .map(|c| c.names.as_slice())
            .unwrap_or_default()
    }

    /// The MBean `canonical` is gone: stop reading it, and watch its patterns closely.
    fn vanished(&mut self, canonical: &str, now: Instant) {
        for c in self.entries.values_mut() {
            if let Some(i) = c.names.iter().position(|(k, _)| k == canonical) {
                c.names.remove(i);
                c.hot_until = Some(now + self.refresh);
            }
        }
    }

    /// A different JVM start time than before: a new JVM, whose MBeans may differ.
    fn jvm_started(&mut self, start_ms: Option<i64>) {
        let Some(start) = start_ms else { return };
        if self.jvm_start_ms.is_some_and(|prev| prev != start) {
            self.entries.clear();
        }
        self.jvm_start_ms = Some(start);
    }

    /// Forgets everything (after a failed poll: the next one queries every pattern).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.jvm_start_ms = None;
    }

    /// How many patterns have cached names.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One call of a poll.
enum Job<'a> {
    Query(&'a ObjectName),
    Read(&'a ObjectName, &'a [String]),
}

enum JobOut {
    Names(Vec<ObjectName>),
    Values(Vec<(String, Value)>),
}

/// Runs `jobs` over `sessions`, each session taking the next pending job until none is left
/// (so a slow reply holds back one session, not the poll). Stops handing out jobs after an error
/// about the connection. Results come back in `jobs` order; `None` for jobs never started.
async fn run_jobs<S: MBeanSource + Send>(
    sessions: &mut [S],
    jobs: &[Job<'_>],
) -> Vec<Option<Result<JobOut, JmxError>>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = sessions.iter_mut().take(jobs.len()).map(|session| {
        let (next, failed) = (&next, &failed);
        async move {
            let mut done = Vec::new();
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let result = match job {
                    Job::Query(pattern) => session.query_names(pattern).await.map(JobOut::Names),
                    Job::Read(name, attributes) => session
                        .get_attributes(name, attributes)
                        .await
                        .map(JobOut::Values),
                };
                if result.as_ref().is_err_and(|e| !about_one_mbean(e)) {
                    failed.store(true, Ordering::Relaxed);
                }
                done.push((i, result));
            }
            done
        }
    });
    let finished = futures::future::join_all(workers).await;
    let mut results: Vec<Option<Result<JobOut, JmxError>>> = jobs.iter().map(|_| None).collect();
    for (i, result) in finished.into_iter().flatten() {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    results
}

/// The first connection-level error among `results`, if any.
fn first_fatal(results: &mut [Option<Result<JobOut, JmxError>>]) -> Option<JmxError> {
    let i = results
        .iter()
        .position(|r| matches!(r, Some(Err(e)) if !about_one_mbean(e)))?;
    match results.get_mut(i).and_then(Option::take) {
        Some(Err(e)) => Some(e),
        _ => None,
    }
}

/// Polls once according to `plan`, spreading the calls over `sessions` (at least one).
pub(crate) async fn scrape<S: MBeanSource + Send>(
    sessions: &mut [S],
    plan: &Plan,
    cache: &mut NameCache,
    warnings: &mut Warnings,
    endpoint: &str,
    now: Instant,
) -> Result<Scrape, JmxError> {
    if sessions.is_empty() {
        return Err(JmxError::Closed);
    }
    // 1. queryNames for the patterns that are due.
    let due: Vec<usize> = plan
        .queries
        .iter()
        .enumerate()
        .filter(|(i, q)| q.pattern.is_pattern() && cache.due(*i, now))
        .map(|(i, _)| i)
        .collect();
    if !due.is_empty() {
        let jobs: Vec<Job<'_>> = due
            .iter()
            .filter_map(|&i| plan.queries.get(i))
            .map(|q| Job::Query(&q.pattern))
            .collect();
        let mut results = run_jobs(sessions, &jobs).await;
        if let Some(e) = first_fatal(&mut results) {
            return Err(e);
        }
        for (&i, result) in due.iter().zip(results) {
            match result {
                Some(Ok(JobOut::Names(names))) => cache.store(i, names, now),
                Some(Err(e)) => {
                    cache.forget(i);
                    let pattern = plan.queries.get(i).map(|q| q.pattern.to_string());
                    if warnings.first(format!("query {}", pattern.as_deref().unwrap_or("?"))) {
                        warn!(endpoint, pattern, error = %e, "cannot list MBeans; skipping this pattern");
                    }
                }
                _ => cache.forget(i),
            }
        }
        debug!(endpoint, queried = due.len(), "queryNames refreshed");
    }

    // 2. Every MBean to read, with the rules that apply to it (a name may match several
    //    patterns), from the cache.
    let mut targets: BTreeMap<String, (ObjectName, Vec<usize>)> = BTreeMap::new();
    for (i, q) in plan.queries.iter().enumerate() {
        let mut add = |canonical: String, name: &ObjectName| {
            let entry = targets
                .entry(canonical)
                .or_insert_with(|| (name.clone(), Vec::new()));
            for &r in &q.rules {
                if !entry.1.contains(&r) {
                    entry.1.push(r);
                }
            }
        };
        if q.pattern.is_pattern() {
            for (canonical, name) in cache.names(i) {
                add(canonical.clone(), name);
            }
        } else {
            add(q.pattern.canonical(), &q.pattern);
        }
    }
    let reads: Vec<(String, ObjectName, Vec<usize>, Vec<String>)> = targets
        .into_iter()
        .map(|(canonical, (name, rule_ids))| {
            let wanted: BTreeSet<&str> = rule_ids
                .iter()
                .filter_map(|&r| plan.rules.get(r))
                .flat_map(Rule::attributes)
                .collect();
            let wanted = wanted.into_iter().map(str::to_owned).collect();
            (canonical, name, rule_ids, wanted)
        })
        .collect();

    // 3. Read them all, the JVM's start time first.
    let start_time = ["StartTime".to_owned()];
    let jobs: Vec<Job<'_>> = std::iter::once(Job::Read(&plan.runtime, &start_time))
        .chain(reads.iter().map(|(_, n, _, a)| Job::Read(n, a)))
        .collect();
    let mut results = run_jobs(sessions, &jobs).await;
    if let Some(e) = first_fatal(&mut results) {
        return Err(e);
    }
    let mut results = results.into_iter();
    let mut out = Scrape::default();
    match results.next().flatten() {
        Some(Ok(JobOut::Values(values))) => {
            out.jvm_start_ms = values
                .iter()
                .find(|(k, _)| k == "StartTime")
                .and_then(|(_, v)| v.as_i64());
            cache.jvm_started(out.jvm_start_ms);
        }
        Some(Err(e)) => {
            debug!(endpoint, error = %e, "no JVM start time; counter resets are detected by value only");
        }
        _ => {}
    }
    for ((canonical, name, rule_ids, _), result) in reads.iter().zip(results) {
        let values = match result {
            Some(Ok(JobOut::Values(values))) => values,
            // Gone (a closed client, a revoked partition), or a plain name not registered here.
            Some(Err(JmxError::InstanceNotFound { .. })) => {
                cache.vanished(canonical, now);
                continue;
            }
            Some(Err(e)) => {
                if warnings.first(format!("read {canonical}")) {
                    warn!(endpoint, mbean = %name, error = %e, "cannot read MBean; skipping it");
                }
                continue;
            }
            _ => continue,
        };
        out.mbeans += 1;
        let values: HashMap<&str, &Value> = values.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for &r in rule_ids {
            let Some(rule) = plan.rules.get(r) else {
                continue;
            };
            for (m, def) in rule.metrics.iter().enumerate() {
                if let Some(reading) = read_metric(def, name, &values, warnings, endpoint) {
                    out.readings.push(Reading {
                        rule: r,
                        metric: m,
                        attributes: reading.0,
                        value: reading.1,
                    });
                }
            }
        }
    }
    Ok(out)
}

type Point = (Vec<(String, String)>, Number);

fn read_metric(
    def: &MetricDef,
    name: &ObjectName,
    values: &HashMap<&str, &Value>,
    warnings: &mut Warnings,
    endpoint: &str,
) -> Option<Point> {
    let Some(value) = values.get(def.attribute.as_str()) else {
        if warnings.first(format!("missing {} {}", name.canonical(), def.attribute)) {
            warn!(endpoint, mbean = %name, attribute = %def.attribute, metric = %def.name,
                "MBean has no such attribute (older client version?); skipping it");
        }
        return None;
    };
    let value = match &def.item {
        None => Some(*value),
        Some(item) => value.get(item),
    };
    let number = match value.and_then(Number::of) {
        Some(n) => n,
        None => {
            // Null is normal (a pool without usage); anything else is a rule mistake.
            let null = matches!(value, None | Some(Value::Null));
            if !null && warnings.first(format!("type {} {}", name.canonical(), def.name)) {
                warn!(endpoint, mbean = %name, attribute = %def.attribute, item = def.item.as_deref().unwrap_or(""),
                    metric = %def.name, "value is not a number; skipping it");
            }
            return None;
        }
    };
    let number = match def.scale {
        Some(s) if s != 1.0 => Number::Double(number.as_f64() * s),
        _ => number,
    };
    // Implausible values (NaN, infinities, out of range) go on to `convert`, which drops and
    // counts them; negative ones the rule asked to drop stop here, uncounted.
    if def.drop_negative && number.as_f64() < 0.0 {
        return None;
    }
    let attributes = def
        .attributes
        .iter()
        .filter_map(|(k, src)| attribute_value(src, name, values).map(|v| (k.clone(), v)))
        .collect();
    Some((attributes, number))
}

fn attribute_value(
    src: &AttrSource,
    name: &ObjectName,
    values: &HashMap<&str, &Value>,
) -> Option<String> {
    match src {
        AttrSource::Param(key) => name.get_unquoted(key),
        AttrSource::Const(text) => Some(text.clone()),
        AttrSource::BeanAttr(attr) => match values.get(attr.as_str())? {
            Value::String(s) => Some(s.to_string()),
            other => Number::of(other).map(|n| match n {
                Number::Int(i) => i.to_string(),
                Number::Double(d) => d.to_string(),
            }),
        },
        AttrSource::Lowercase(inner) => {
            attribute_value(inner, name, values).map(|s| s.to_lowercase())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::jmx::rules::{RawRuleFile, compile};
    use std::collections::BTreeMap;

    /// An in-memory MBean server.
    #[derive(Debug, Default, Clone)]
    pub(crate) struct FakeServer {
        pub beans: BTreeMap<String, (ObjectName, BTreeMap<String, Value>)>,
        pub down: bool,
        pub calls: usize,
    }

    impl FakeServer {
        pub fn with(mut self, name: &str, attrs: &[(&str, Value)]) -> Self {
            let n = ObjectName::parse(name).expect("name");
            self.beans.insert(
                n.canonical(),
                (
                    n,
                    attrs
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect(),
                ),
            );
            self
        }

        fn gone() -> JmxError {
            JmxError::ConnectionRefused {
                address: "fake:1".into(),
                hint: "test".into(),
            }
        }
    }

    impl MBeanSource for FakeServer {
        fn query_names(
            &mut self,
            pattern: &ObjectName,
        ) -> impl Future<Output = Result<Vec<ObjectName>, JmxError>> {
            self.calls += 1;
            let r = if self.down {
                Err(Self::gone())
            } else {
                Ok(self
                    .beans
                    .values()
                    .filter(|(n, _)| pattern.matches(n))
                    .map(|(n, _)| n.clone())
                    .collect())
            };
            // Yield once, as a network call would, so parallel sessions interleave.
            async move {
                tokio::task::yield_now().await;
                r
            }
        }

        fn get_attributes(
            &mut self,
            name: &ObjectName,
            attributes: &[String],
        ) -> impl Future<Output = Result<Vec<(String, Value)>, JmxError>> {
            self.calls += 1;
            let r = if self.down {
                Err(Self::gone())
            } else {
                match self.beans.get(&name.canonical()) {
                    None => Err(JmxError::InstanceNotFound {
                        address: "fake:1".into(),
                        remote: kafka_obs_jmx::RemoteException {
                            class: "javax.management.InstanceNotFoundException".into(),
                            message: Some(name.to_string()),
                            cause: None,
                        },
                    }),
                    Some((_, attrs)) => Ok(attributes
                        .iter()
                        .filter_map(|a| attrs.get(a).map(|v| (a.clone(), v.clone())))
                        .collect()),
                }
            };
            async move {
                tokio::task::yield_now().await;
                r
            }
        }
    }

    pub(crate) fn plan(yaml: &str) -> Plan {
        let file: RawRuleFile = serde_yaml_ng::from_str(yaml).expect("yaml");
        Plan::new(compile(&file.rules, "rules").expect("rules"))
    }

    fn run(server: &mut FakeServer, plan: &Plan) -> Result<Scrape, JmxError> {
        let mut cache = NameCache::new(Duration::ZERO);
        run_at(
            std::slice::from_mut(server),
            plan,
            &mut cache,
            Instant::now(),
        )
    }

    fn run_at(
        sessions: &mut [FakeServer],
        plan: &Plan,
        cache: &mut NameCache,
        now: Instant,
    ) -> Result<Scrape, JmxError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(scrape(
            sessions,
            plan,
            cache,
            &mut Warnings::default(),
            "fake:1",
            now,
        ))
    }

    /// The client-ids a poll read producer metrics for.
    fn clients(plan: &Plan, s: &Scrape) -> BTreeSet<String> {
        by_metric(plan, s)
            .into_iter()
            .flat_map(|(_, attrs, _)| attrs)
            .filter(|(k, _)| k == "client-id")
            .map(|(_, v)| v)
            .collect()
    }

    const CLIENTS: &str = r#"
rules:
  - bean: kafka.producer:type=producer-metrics,client-id=*
    metricAttribute: {client-id: param(client-id)}
    mapping: {rate: }
"#;

    fn producer(server: FakeServer, id: &str) -> FakeServer {
        server.with(
            &format!("kafka.producer:type=producer-metrics,client-id={id}"),
            &[("rate", Value::Double(1.0))],
        )
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn cached_names_skip_query_names_until_the_refresh_period_ends() {
        let plan = plan(CLIENTS);
        let mut cache = NameCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let mut server = [producer(FakeServer::default(), "a")];
        let s = run_at(&mut server, &plan, &mut cache, t0).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["a"]));
        assert_eq!(server[0].calls, 3, "Runtime + queryNames + one read");

        // A new client registers: not seen while the names are fresh, and no queryNames.
        server[0] = producer(server[0].clone(), "b");
        server[0].calls = 0;
        for secs in [10, 20, 50] {
            let s = run_at(
                &mut server,
                &plan,
                &mut cache,
                t0 + Duration::from_secs(secs),
            )
            .unwrap();
            assert_eq!(clients(&plan, &s), ids(&["a"]), "at {secs} s");
        }
        assert_eq!(server[0].calls, 6, "Runtime + one read, three times");

        // The refresh period is over (with a little slack for early polls): it appears.
        let s = run_at(&mut server, &plan, &mut cache, t0 + Duration::from_secs(58)).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["a", "b"]));
    }

    #[test]
    fn a_vanished_mbean_stops_at_once_and_its_pattern_is_watched() {
        let plan = plan(CLIENTS);
        let mut cache = NameCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let mut server = [producer(producer(FakeServer::default(), "a"), "b")];
        let s = run_at(&mut server, &plan, &mut cache, t0).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["a", "b"]));

        // `a` closes: the very next poll has no reading for it (its read fails, cache or not).
        server[0]
            .beans
            .remove("kafka.producer:client-id=a,type=producer-metrics");
        let t1 = t0 + Duration::from_secs(10);
        let s = run_at(&mut server, &plan, &mut cache, t1).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["b"]));
        assert_eq!(s.mbeans, 1, "only b was read");

        // Not read again (it left the cache), and its pattern is re-queried on every poll for
        // a refresh period: a client that comes back shows at the next poll.
        server[0].calls = 0;
        let s = run_at(&mut server, &plan, &mut cache, t1 + Duration::from_secs(10)).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["b"]));
        assert_eq!(server[0].calls, 3, "Runtime + queryNames + b");
        server[0] = producer(server[0].clone(), "a");
        let s = run_at(&mut server, &plan, &mut cache, t1 + Duration::from_secs(20)).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["a", "b"]));

        // After the watch period, back to the schedule.
        server[0].calls = 0;
        let s = run_at(&mut server, &plan, &mut cache, t1 + Duration::from_secs(61)).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["a", "b"]));
        assert_eq!(server[0].calls, 3, "Runtime + a + b, no queryNames");
    }

    #[test]
    fn a_new_jvm_start_time_or_a_failed_poll_empties_the_cache() {
        let plan = plan(CLIENTS);
        let mut cache = NameCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let runtime = |start: i64| {
            FakeServer::default().with(
                "java.lang:type=Runtime",
                &[("StartTime", Value::Long(start))],
            )
        };
        let mut server = [producer(runtime(1), "a")];
        run_at(&mut server, &plan, &mut cache, t0).unwrap();
        assert_eq!(cache.len(), 1);
        // Same JVM: the cache stays.
        run_at(&mut server, &plan, &mut cache, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(cache.len(), 1);
        // Restarted JVM with another client: cleared, so the next poll finds `b`.
        server[0] = producer(runtime(2), "b");
        let s = run_at(&mut server, &plan, &mut cache, t0 + Duration::from_secs(20)).unwrap();
        assert!(clients(&plan, &s).is_empty(), "a is gone, b not yet known");
        assert!(cache.is_empty());
        let s = run_at(&mut server, &plan, &mut cache, t0 + Duration::from_secs(30)).unwrap();
        assert_eq!(clients(&plan, &s), ids(&["b"]));
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn calls_spread_over_sessions_and_read_the_same() {
        let plan = plan(CLIENTS);
        let mut one = FakeServer::default();
        for id in ["a", "b", "c", "d", "e"] {
            one = producer(one, id);
        }
        let single = run(&mut one.clone(), &plan).unwrap();
        let mut sessions = [one.clone(), one.clone(), one];
        let mut cache = NameCache::new(Duration::ZERO);
        let parallel = run_at(&mut sessions, &plan, &mut cache, Instant::now()).unwrap();
        assert_eq!(by_metric(&plan, &parallel), by_metric(&plan, &single));
        let calls: Vec<usize> = sessions.iter().map(|s| s.calls).collect();
        assert_eq!(
            calls.iter().sum::<usize>(),
            7,
            "1 query + Runtime + 5 reads: {calls:?}"
        );
        assert!(
            calls.iter().all(|&c| c >= 1),
            "every session worked: {calls:?}"
        );
    }

    type Flat = (String, Vec<(String, String)>, Number);

    fn by_metric(plan: &Plan, s: &Scrape) -> Vec<Flat> {
        let mut v: Vec<_> = s
            .readings
            .iter()
            .map(|r| {
                (
                    plan.metric(r.rule, r.metric).expect("def").name.clone(),
                    r.attributes.clone(),
                    r.value,
                )
            })
            .collect();
        v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        v
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_patterns_composites_and_attributes() {
        let plan = plan(
            r#"
rules:
  - bean: kafka.producer:type=producer-metrics,client-id=*
    metricAttribute: {client-id: param(client-id), kind: lowercase(beanattr(Kind))}
    prefix: p.
    mapping:
      rate:
      total: {type: counter}
      nan:
      neg: {dropNegativeValues: true}
      absent:
  - bean: java.lang:type=Memory
    mapping:
      HeapMemoryUsage.used: {metric: heap.used}
  - bean: java.lang:type=Threading
    mapping:
      ThreadCount: {metric: threads}
"#,
        );
        let heap = Value::Composite(std::sync::Arc::new(BTreeMap::from([
            ("used".to_owned(), Value::Long(123)),
            ("max".to_owned(), Value::Long(1000)),
        ])));
        let mut server = FakeServer::default()
            .with(
                "java.lang:type=Runtime",
                &[("StartTime", Value::Long(1_700_000_000_000))],
            )
            .with(
                "kafka.producer:type=producer-metrics,client-id=a",
                &[
                    ("rate", Value::Double(1.5)),
                    ("total", Value::Double(7.0)),
                    ("nan", Value::Double(f64::NAN)),
                    ("neg", Value::Double(-1.0)),
                    ("Kind", Value::String("ASYNC".into())),
                ],
            )
            .with(
                // Not matched: an extra key without a property list pattern.
                "kafka.producer:type=producer-metrics,client-id=a,topic=t",
                &[("rate", Value::Double(99.0))],
            )
            .with("java.lang:type=Memory", &[("HeapMemoryUsage", heap)]);
        let s = run(&mut server, &plan).expect("scrape");
        assert_eq!(s.jvm_start_ms, Some(1_700_000_000_000));
        assert_eq!(
            s.mbeans, 2,
            "producer + memory; Threading is not registered"
        );
        let attrs = kv(&[("client-id", "a"), ("kind", "async")]);
        // NaN is read and left for `convert` to drop and count.
        let (nan, finite): (Vec<Flat>, Vec<Flat>) = by_metric(&plan, &s)
            .into_iter()
            .partition(|(_, _, n)| n.as_f64().is_nan());
        assert_eq!(nan.len(), 1);
        assert_eq!(nan[0].0, "p.nan");
        assert_eq!(
            finite,
            vec![
                ("heap.used".to_owned(), vec![], Number::Int(123)),
                ("p.rate".to_owned(), attrs.clone(), Number::Double(1.5)),
                ("p.total".to_owned(), attrs, Number::Double(7.0)),
            ]
        );
    }

    #[test]
    fn one_get_attributes_per_mbean_even_when_rules_overlap() {
        let plan = plan(
            r#"
rules:
  - bean: a:type=x,name=*
    mapping: {A: }
  - beans: ['a:type=x,name=1', 'a:type=x,*']
    mapping: {B: }
"#,
        );
        let mut server = FakeServer::default()
            .with(
                "a:type=x,name=1",
                &[("A", Value::Int(1)), ("B", Value::Int(2))],
            )
            .with(
                "a:type=x,name=2",
                &[("A", Value::Int(3)), ("B", Value::Int(4))],
            );
        let s = run(&mut server, &plan).expect("scrape");
        assert_eq!(s.readings.len(), 4);
        // Runtime + 2 queryNames + 2 getAttributes (name=1 is read once for both rules).
        assert_eq!(server.calls, 5);
    }

    #[test]
    fn connection_errors_fail_the_poll() {
        let plan = plan("rules: [{bean: 'a:type=x', mapping: {A: }}]");
        let mut server = FakeServer {
            down: true,
            ..Default::default()
        };
        assert!(matches!(
            run(&mut server, &plan),
            Err(JmxError::ConnectionRefused { .. })
        ));
    }

    #[test]
    fn source_units_are_converted() {
        let plan =
            plan("rules: [{bean: 'a:type=x', mapping: {T: {metric: t, unit: s, sourceUnit: ms}}}]");
        let mut server = FakeServer::default().with("a:type=x", &[("T", Value::Long(1500))]);
        let s = run(&mut server, &plan).expect("scrape");
        assert_eq!(s.readings[0].value, Number::Double(1.5));
    }
}
