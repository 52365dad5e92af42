//! One poll of one JVM: find the MBeans the rules name, read each one's attributes in a single
//! batched `getAttributes`, and turn the values into readings.
//!
//! The [`Plan`] is computed once per receiver: every distinct bean pattern with the rules that
//! use it. A poll asks `queryNames` only for real patterns (a plain name is read directly; if it
//! is not registered the server says so and the MBean is skipped), merges the MBeans matched by
//! several patterns, and requests the union of the attributes its rules need. Errors about one
//! MBean (not found, an attribute missing, a getter that threw) skip that MBean with one warning;
//! errors about the connection fail the poll, which the caller turns into `target.up = 0`.
//! NaN and infinities (Kafka's "no sample yet") yield no reading.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;

use tracing::{debug, warn};

use kafka_obs_jmx::{JmxClient, JmxError, ObjectName, Value};

use super::rules::{AttrSource, MetricDef, Rule};

/// The few calls a poll makes, so the poll logic can be tested without a JVM.
pub(crate) trait MBeanSource {
    fn query_names(
        &mut self,
        pattern: &ObjectName,
    ) -> impl Future<Output = Result<Vec<ObjectName>, JmxError>>;

    fn get_attributes(
        &mut self,
        name: &ObjectName,
        attributes: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Value)>, JmxError>>;
}

impl MBeanSource for JmxClient {
    fn query_names(
        &mut self,
        pattern: &ObjectName,
    ) -> impl Future<Output = Result<Vec<ObjectName>, JmxError>> {
        JmxClient::query_names(self, pattern)
    }

    fn get_attributes(
        &mut self,
        name: &ObjectName,
        attributes: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Value)>, JmxError>> {
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

/// Polls `source` once according to `plan`.
pub(crate) async fn scrape<S: MBeanSource>(
    source: &mut S,
    plan: &Plan,
    warnings: &mut Warnings,
    endpoint: &str,
) -> Result<Scrape, JmxError> {
    let mut out = Scrape::default();
    match source
        .get_attributes(&plan.runtime, &["StartTime".to_owned()])
        .await
    {
        Ok(values) => {
            out.jvm_start_ms = values
                .iter()
                .find(|(k, _)| k == "StartTime")
                .and_then(|(_, v)| v.as_i64());
        }
        Err(e) if about_one_mbean(&e) => {
            debug!(endpoint, error = %e, "no JVM start time; counter resets are detected by value only");
        }
        Err(e) => return Err(e),
    }

    // Every MBean to read, with the rules that apply to it (a name may match several patterns).
    let mut targets: BTreeMap<String, (ObjectName, Vec<usize>)> = BTreeMap::new();
    for q in &plan.queries {
        let names = if q.pattern.is_pattern() {
            match source.query_names(&q.pattern).await {
                Ok(names) => names,
                Err(e) if about_one_mbean(&e) => {
                    if warnings.first(format!("query {}", q.pattern)) {
                        warn!(endpoint, pattern = %q.pattern, error = %e, "cannot list MBeans; skipping this pattern");
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            vec![q.pattern.clone()]
        };
        for name in names {
            let entry = targets
                .entry(name.canonical())
                .or_insert_with(|| (name, Vec::new()));
            for &r in &q.rules {
                if !entry.1.contains(&r) {
                    entry.1.push(r);
                }
            }
        }
    }

    for (name, rule_ids) in targets.into_values() {
        let wanted: BTreeSet<&str> = rule_ids
            .iter()
            .filter_map(|&r| plan.rules.get(r))
            .flat_map(Rule::attributes)
            .collect();
        let wanted: Vec<String> = wanted.into_iter().map(str::to_owned).collect();
        let values = match source.get_attributes(&name, &wanted).await {
            Ok(values) => values,
            // Not registered (a plain name that does not exist here, or it just went away).
            Err(JmxError::InstanceNotFound { .. }) => continue,
            Err(e) if about_one_mbean(&e) => {
                if warnings.first(format!("read {}", name.canonical())) {
                    warn!(endpoint, mbean = %name, error = %e, "cannot read MBean; skipping it");
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        out.mbeans += 1;
        let values: HashMap<&str, &Value> = values.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for &r in &rule_ids {
            let Some(rule) = plan.rules.get(r) else {
                continue;
            };
            for (m, def) in rule.metrics.iter().enumerate() {
                if let Some(reading) = read_metric(def, &name, &values, warnings, endpoint) {
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
    let f = number.as_f64();
    if !f.is_finite() || (def.drop_negative && f < 0.0) {
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
            Value::String(s) => Some(s.clone()),
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
            std::future::ready(r)
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
            std::future::ready(r)
        }
    }

    pub(crate) fn plan(yaml: &str) -> Plan {
        let file: RawRuleFile = serde_yaml_ng::from_str(yaml).expect("yaml");
        Plan::new(compile(&file.rules, "rules").expect("rules"))
    }

    fn run(server: &mut FakeServer, plan: &Plan) -> Result<Scrape, JmxError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(scrape(server, plan, &mut Warnings::default(), "fake:1"))
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
        let heap = Value::Composite(BTreeMap::from([
            ("used".to_owned(), Value::Long(123)),
            ("max".to_owned(), Value::Long(1000)),
        ]));
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
        assert_eq!(
            by_metric(&plan, &s),
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
