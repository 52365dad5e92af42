//! JMX rules in OpenTelemetry's JMX Metric Insight YAML (the format of its `jmx-metrics` rule
//! files), and their validated form.
//!
//! ```yaml
//! rules:
//!   - bean: kafka.producer:type=producer-metrics,client-id=*   # or `beans: [..]`
//!     metricAttribute: {client-id: param(client-id)}           # param() / beanattr() / const() / lowercase()
//!     prefix: kafka.producer.
//!     type: gauge                                              # gauge | counter | updowncounter
//!     unit: By
//!     mapping:
//!       buffer-available-bytes:                                # metric = prefix + attribute name
//!       buffer-exhausted-total: {type: counter, unit: "1"}
//!       HeapMemoryUsage.used: {metric: heap.used}              # `Attr.key`: a CompositeData item
//! ```
//!
//! The same format defines our presets (see `presets.rs`) and the user's business rules, so one
//! parser and one evaluator serve both. Parsing is two steps as everywhere in kafka-obs: serde
//! structs that mirror the YAML (unknown keys rejected), then [`compile`] into [`Rule`]s that
//! cannot hold an invalid state; every error names its key path (`rules::0::bean`).

use std::collections::BTreeMap;

use serde::Deserialize;

use kafka_obs_api::ComponentConfigError;
use kafka_obs_jmx::ObjectName;

/// How a metric is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// An OTLP gauge (the default).
    Gauge,
    /// A monotonic cumulative sum (JMX counters such as `CollectionCount`, Yammer `Count`).
    Counter,
    /// A non-monotonic cumulative sum.
    UpDownCounter,
}

impl MetricKind {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "gauge" => Some(Self::Gauge),
            "counter" => Some(Self::Counter),
            "updowncounter" => Some(Self::UpDownCounter),
            _ => None,
        }
    }

    pub fn is_sum(self) -> bool {
        !matches!(self, Self::Gauge)
    }
}

/// Where a data point attribute's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrSource {
    /// `param(key)`: a key property of the MBean's ObjectName (unquoted).
    Param(String),
    /// `beanattr(Attr)`: the value of another attribute of the same MBean.
    BeanAttr(String),
    /// `const(text)`.
    Const(String),
    /// `lowercase(...)`.
    Lowercase(Box<AttrSource>),
}

impl AttrSource {
    /// Parses `param(x)`, `beanattr(x)`, `const(x)`, `lowercase(<one of those>)`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let call = |name: &str| {
            t.strip_prefix(name)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
        };
        if let Some(inner) = call("param") {
            non_empty(inner, "param").map(Self::Param)
        } else if let Some(inner) = call("beanattr") {
            non_empty(inner, "beanattr").map(Self::BeanAttr)
        } else if let Some(inner) = call("const") {
            Ok(Self::Const(inner.to_owned()))
        } else if let Some(inner) = call("lowercase") {
            Ok(Self::Lowercase(Box::new(Self::parse(inner)?)))
        } else {
            Err(format!(
                "invalid metric attribute source {text:?}: use param(<ObjectName key>), beanattr(<MBean attribute>), const(<text>) or lowercase(<one of those>)"
            ))
        }
    }

    /// The MBean attribute this source reads, if any.
    pub fn bean_attribute(&self) -> Option<&str> {
        match self {
            Self::BeanAttr(a) => Some(a),
            Self::Lowercase(inner) => inner.bean_attribute(),
            Self::Param(_) | Self::Const(_) => None,
        }
    }
}

fn non_empty(inner: &str, what: &str) -> Result<String, String> {
    let inner = inner.trim();
    if inner.is_empty() {
        Err(format!("{what}() needs a name inside the parentheses"))
    } else {
        Ok(inner.to_owned())
    }
}

/// One metric produced from one MBean attribute (or one CompositeData item of it).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDef {
    /// The full metric name (prefix applied).
    pub name: String,
    /// The MBean attribute read.
    pub attribute: String,
    /// The CompositeData item (`used` of `HeapMemoryUsage`); dots descend into nested ones.
    pub item: Option<String>,
    pub kind: MetricKind,
    pub unit: String,
    pub description: String,
    /// Data point attributes, sorted by key (metric-level entries override the rule's).
    pub attributes: Vec<(String, AttrSource)>,
    /// Multiplier from `sourceUnit` to `unit` (`ms` -> `s` is 0.001).
    pub scale: Option<f64>,
    /// Skip negative readings (`dropNegativeValues`), e.g. Kafka's -1 for "never happened".
    pub drop_negative: bool,
}

/// A validated rule: MBean name patterns and the metrics read from each match.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub beans: Vec<ObjectName>,
    pub metrics: Vec<MetricDef>,
}

impl Rule {
    /// Every MBean attribute the rule reads (values and `beanattr` sources), deduplicated.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.metrics.iter().flat_map(|m| {
            std::iter::once(m.attribute.as_str())
                .chain(m.attributes.iter().filter_map(|(_, s)| s.bean_attribute()))
        })
    }
}

/// A rule as written in YAML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRule {
    #[serde(default)]
    bean: Option<String>,
    #[serde(default)]
    beans: Option<Vec<String>>,
    #[serde(default)]
    metric_attribute: BTreeMap<String, String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    source_unit: Option<String>,
    #[serde(default)]
    drop_negative_values: Option<bool>,
    #[serde(default)]
    mapping: BTreeMap<String, Option<RawMetric>>,
}

/// One `mapping` entry as written (an empty entry takes every default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMetric {
    #[serde(default)]
    metric: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    desc: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    source_unit: Option<String>,
    #[serde(default)]
    drop_negative_values: Option<bool>,
    #[serde(default)]
    metric_attribute: BTreeMap<String, String>,
}

/// A rule file: `rules: [...]` (the presets are written this way).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleFile {
    pub rules: Vec<RawRule>,
}

/// Validates `raw` rules; `path` is the key path of the list (`rules`).
pub fn compile(raw: &[RawRule], path: &str) -> Result<Vec<Rule>, ComponentConfigError> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| compile_rule(r, &format!("{path}::{i}")))
        .collect()
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ComponentConfigError {
    ComponentConfigError::new(path, message)
}

fn compile_rule(raw: &RawRule, path: &str) -> Result<Rule, ComponentConfigError> {
    let beans: Vec<(String, &String)> = match (&raw.bean, &raw.beans) {
        (Some(_), Some(_)) => {
            return Err(err(
                format!("{path}::beans"),
                "set either `bean` or `beans`, not both",
            ));
        }
        (Some(b), None) => vec![(format!("{path}::bean"), b)],
        (None, Some(list)) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("{path}::beans::{i}"), b))
            .collect(),
        (None, Some(_)) => {
            return Err(err(
                format!("{path}::beans"),
                "must name at least one MBean",
            ));
        }
        (None, None) => {
            return Err(err(
                format!("{path}::bean"),
                "missing: name the MBean (e.g. `bean: com.example:type=Orders,name=*`)",
            ));
        }
    };
    let beans = beans
        .into_iter()
        .map(|(p, b)| ObjectName::parse(b).map_err(|e| err(p, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if raw.mapping.is_empty() {
        return Err(err(
            format!("{path}::mapping"),
            "must map at least one MBean attribute to a metric",
        ));
    }
    let rule_kind = raw
        .kind
        .as_deref()
        .map(|k| parse_kind(k, &format!("{path}::type")))
        .transpose()?;
    let rule_attrs = parse_attr_map(&raw.metric_attribute, &format!("{path}::metricAttribute"))?;
    let prefix = raw.prefix.clone().unwrap_or_default();
    let mut metrics = Vec::with_capacity(raw.mapping.len());
    for (attr_spec, m) in &raw.mapping {
        let mpath = format!("{path}::mapping::{attr_spec}");
        let m = m.clone().unwrap_or_default();
        let (attribute, item) = split_attribute(attr_spec).map_err(|e| err(&mpath, e))?;
        let kind = match &m.kind {
            Some(k) => parse_kind(k, &format!("{mpath}::type"))?,
            None => rule_kind.unwrap_or(MetricKind::Gauge),
        };
        let unit = m
            .unit
            .clone()
            .or_else(|| raw.unit.clone())
            .unwrap_or_default();
        let source_unit = m.source_unit.clone().or_else(|| raw.source_unit.clone());
        let scale = match source_unit {
            None => None,
            Some(src) => Some(conversion(&src, &unit).map_err(|e| {
                let key = if m.source_unit.is_some() {
                    format!("{mpath}::sourceUnit")
                } else {
                    format!("{path}::sourceUnit")
                };
                err(key, e)
            })?),
        };
        let local = match m.metric.as_deref() {
            Some(name) => name.to_owned(),
            None => unescape(attr_spec),
        };
        let name = format!("{prefix}{local}");
        check_metric_name(&name).map_err(|e| err(format!("{mpath}::metric"), e))?;
        let mut attributes: BTreeMap<String, AttrSource> = rule_attrs.clone();
        attributes.extend(parse_attr_map(
            &m.metric_attribute,
            &format!("{mpath}::metricAttribute"),
        )?);
        metrics.push(MetricDef {
            name,
            attribute,
            item,
            kind,
            unit,
            description: m.desc.unwrap_or_default(),
            attributes: attributes.into_iter().collect(),
            scale,
            drop_negative: m
                .drop_negative_values
                .or(raw.drop_negative_values)
                .unwrap_or(false),
        });
    }
    Ok(Rule { beans, metrics })
}

fn parse_kind(text: &str, path: &str) -> Result<MetricKind, ComponentConfigError> {
    if text.eq_ignore_ascii_case("state") {
        return Err(err(
            path,
            "type `state` is not supported yet; use gauge, counter or updowncounter",
        ));
    }
    MetricKind::parse(text).ok_or_else(|| {
        err(
            path,
            format!("unknown metric type {text:?}; use gauge, counter or updowncounter"),
        )
    })
}

fn parse_attr_map(
    map: &BTreeMap<String, String>,
    path: &str,
) -> Result<BTreeMap<String, AttrSource>, ComponentConfigError> {
    map.iter()
        .map(|(k, v)| {
            if k.trim().is_empty() {
                return Err(err(path, "a metric attribute key is empty"));
            }
            AttrSource::parse(v)
                .map(|s| (k.clone(), s))
                .map_err(|e| err(format!("{path}::{k}"), e))
        })
        .collect()
}

/// Splits `Attr.item` at the first unescaped dot; `\.` is a literal dot in either part.
fn split_attribute(spec: &str) -> Result<(String, Option<String>), String> {
    let mut attribute = String::new();
    let mut chars = spec.chars();
    let mut item = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => attribute.push(n),
                None => attribute.push('\\'),
            },
            '.' => {
                item = Some(unescape(chars.as_str()));
                break;
            }
            c => attribute.push(c),
        }
    }
    if attribute.is_empty() {
        return Err("the MBean attribute name is empty".into());
    }
    if item.as_deref() == Some("") {
        return Err("nothing after the '.' (write Attr.item for a CompositeData item)".into());
    }
    Ok((attribute, item))
}

fn unescape(s: &str) -> String {
    s.replace("\\.", ".")
}

/// OpenTelemetry's instrument name rule: a letter, then letters, digits, `_ . - /`, at most 255.
fn check_metric_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 255
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid metric name: start with a letter, then letters, digits, '_', '.', '-' or '/' (at most 255)"
        ))
    }
}

/// The factor from `source` to `unit` (OpenTelemetry's supported conversions).
fn conversion(source: &str, unit: &str) -> Result<f64, String> {
    match (source, unit) {
        (s, u) if s == u => Ok(1.0),
        ("ms", "s") => Ok(1e-3),
        ("us", "s") => Ok(1e-6),
        ("ns", "s") => Ok(1e-9),
        ("ns", "ms") => Ok(1e-6),
        _ => Err(format!(
            "no conversion from sourceUnit {source:?} to unit {unit:?}; supported: ms->s, us->s, ns->s, ns->ms"
        )),
    }
}

/// Checks that every metric name keeps one type and unit across `rules` (as OpenTelemetry
/// requires). `paths` gives each rule's key path for the error.
pub fn check_consistent(rules: &[(String, &Rule)]) -> Result<(), ComponentConfigError> {
    let mut seen: BTreeMap<&str, (MetricKind, &str, &str)> = BTreeMap::new();
    for (path, rule) in rules {
        for m in &rule.metrics {
            match seen.get(m.name.as_str()) {
                Some(&(kind, unit, first)) if kind != m.kind || unit != m.unit => {
                    return Err(err(
                        path.clone(),
                        format!(
                            "metric {:?} is defined as {:?} in {:?} here but as {:?} in {:?} by {first}; one metric name must keep one type and unit",
                            m.name, m.kind, m.unit, kind, unit
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    seen.insert(&m.name, (m.kind, &m.unit, path));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Result<Vec<Rule>, ComponentConfigError> {
        let file: RawRuleFile = serde_yaml_ng::from_str(yaml).expect("yaml");
        compile(&file.rules, "rules")
    }

    #[test]
    fn full_rule_with_defaults_and_overrides() {
        let r = rules(
            r#"
rules:
  - bean: com.example.orders:type=OrderMetrics,name=*
    metricAttribute:
      service: const(orders)
      name: lowercase(param(name))
    prefix: orders.
    type: counter
    unit: "1"
    mapping:
      orders-processed-count:
      inventory-check-latency:
        metric: inventory.latency
        type: gauge
        unit: s
        sourceUnit: ms
        desc: Inventory check latency
        metricAttribute:
          service: const(inventory)
          state: beanattr(State)
      Usage.used:
      a\.b.c:
"#,
        )
        .expect("valid");
        assert_eq!(r.len(), 1);
        let rule = &r[0];
        assert_eq!(
            rule.beans,
            vec![ObjectName::parse("com.example.orders:type=OrderMetrics,name=*").unwrap()]
        );
        let by_name: BTreeMap<_, _> = rule.metrics.iter().map(|m| (m.name.as_str(), m)).collect();
        let count = by_name["orders.orders-processed-count"];
        assert_eq!(count.kind, MetricKind::Counter);
        assert_eq!(count.unit, "1");
        assert_eq!(count.attribute, "orders-processed-count");
        assert_eq!(count.item, None);
        assert_eq!(
            count.attributes,
            vec![
                (
                    "name".to_string(),
                    AttrSource::Lowercase(Box::new(AttrSource::Param("name".into())))
                ),
                ("service".to_string(), AttrSource::Const("orders".into())),
            ]
        );
        let lat = by_name["orders.inventory.latency"];
        assert_eq!(lat.kind, MetricKind::Gauge);
        assert_eq!(lat.unit, "s");
        assert_eq!(lat.scale, Some(1e-3));
        assert_eq!(lat.description, "Inventory check latency");
        assert!(
            lat.attributes
                .contains(&("service".into(), AttrSource::Const("inventory".into())))
        );
        assert!(
            lat.attributes
                .contains(&("state".into(), AttrSource::BeanAttr("State".into())))
        );
        let used = by_name["orders.Usage.used"];
        assert_eq!(
            (used.attribute.as_str(), used.item.as_deref()),
            ("Usage", Some("used"))
        );
        let dotted = by_name["orders.a.b.c"];
        assert_eq!(
            (dotted.attribute.as_str(), dotted.item.as_deref()),
            ("a.b", Some("c"))
        );
        let attrs: Vec<&str> = rule.attributes().collect();
        assert!(attrs.contains(&"State"), "{attrs:?}");
    }

    #[test]
    fn errors_name_the_key_path() {
        let cases = [
            ("rules: [{mapping: {A: }}]", "rules::0::bean", "missing"),
            (
                "rules: [{bean: 'no-colon', mapping: {A: }}]",
                "rules::0::bean",
                "missing ':'",
            ),
            (
                "rules: [{beans: ['a:b=c', 'bad'], mapping: {A: }}]",
                "rules::0::beans::1",
                "invalid MBean name",
            ),
            (
                "rules: [{bean: 'a:b=c'}]",
                "rules::0::mapping",
                "at least one",
            ),
            (
                "rules: [{bean: 'a:b=c', type: histogram, mapping: {A: }}]",
                "rules::0::type",
                "unknown metric type",
            ),
            (
                "rules: [{bean: 'a:b=c', mapping: {A: {type: state}}}]",
                "rules::0::mapping::A::type",
                "not supported",
            ),
            (
                "rules: [{bean: 'a:b=c', mapping: {A: {metric: '9lives'}}}]",
                "rules::0::mapping::A::metric",
                "not a valid metric name",
            ),
            (
                "rules: [{bean: 'a:b=c', metricAttribute: {x: 'param()'}, mapping: {A: }}]",
                "rules::0::metricAttribute::x",
                "needs a name",
            ),
            (
                "rules: [{bean: 'a:b=c', mapping: {A: {metricAttribute: {x: 'nope(1)'}}}}]",
                "rules::0::mapping::A::metricAttribute::x",
                "param(",
            ),
            (
                "rules: [{bean: 'a:b=c', mapping: {A: {unit: By, sourceUnit: ms}}}]",
                "rules::0::mapping::A::sourceUnit",
                "no conversion",
            ),
            (
                "rules: [{bean: 'a:b=c', mapping: {'A.': }}]",
                "rules::0::mapping::A.",
                "nothing after",
            ),
        ];
        for (yaml, path, text) in cases {
            let e = rules(yaml).expect_err(yaml);
            assert_eq!(e.path, path, "{yaml}: {e}");
            assert!(e.message.contains(text), "{yaml}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = serde_yaml_ng::from_str::<RawRuleFile>(
            "rules: [{bean: 'a:b=c', mapping: {A: {metirc: x}}}]",
        )
        .expect_err("unknown key");
        assert!(e.to_string().contains("unknown field `metirc`"), "{e}");
    }

    #[test]
    fn one_metric_name_keeps_one_type() {
        let a = rules("rules: [{bean: 'a:b=c', mapping: {A: {metric: m, type: counter}}}]")
            .unwrap()
            .remove(0);
        let b = rules("rules: [{bean: 'a:b=d', mapping: {B: {metric: m}}}]")
            .unwrap()
            .remove(0);
        let same = rules("rules: [{bean: 'a:b=d', mapping: {B: {metric: m, type: Counter}}}]")
            .unwrap()
            .remove(0);
        assert!(check_consistent(&[("p::0".into(), &a), ("rules::0".into(), &same)]).is_ok());
        let e = check_consistent(&[("p::0".into(), &a), ("rules::0".into(), &b)]).unwrap_err();
        assert_eq!(e.path, "rules::0");
        assert!(
            e.message.contains("one metric name must keep one type"),
            "{e}"
        );
    }
}
