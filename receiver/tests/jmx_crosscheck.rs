//! Every preset attribute the receiver reads equals what an independent JDK client (the
//! `jmxquery` jar) reads from the same scenario JVM at the same moment.
//!
//! The scenario is paused, so Kafka values stand still and must match exactly. The JVM's own
//! values move (heap, classes, threads, file descriptors), so the receiver polls just before
//! and just after jmxquery and the jar's value must lie between the two; if a garbage collection
//! happened in between (heap values jump) the comparison is repeated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeMap;

use kafka_obs_jmx::ObjectName;
use kafka_obs_receiver::jmx::rules::{AttrSource, Rule};
use kafka_obs_testkit::peers::{JmxRow, jmxquery_rows};
use kafka_obs_testkit::scenario::{Role, ScenarioJvm};

use common::{Point, points};

type Key = (String, BTreeMap<String, String>);

fn attr_value(src: &AttrSource, name: &ObjectName) -> Option<String> {
    match src {
        AttrSource::Param(k) => name.get_unquoted(k),
        AttrSource::Const(c) => Some(c.clone()),
        AttrSource::Lowercase(inner) => attr_value(inner, name).map(|s| s.to_lowercase()),
        AttrSource::BeanAttr(_) => None,
    }
}

/// The jmxquery `-q` argument asking for every attribute the rules read.
fn query(rules: &[Rule]) -> String {
    let mut q = Vec::new();
    for r in rules {
        for b in &r.beans {
            let mut attrs: Vec<&str> = r.metrics.iter().map(|m| m.attribute.as_str()).collect();
            attrs.sort();
            attrs.dedup();
            for a in attrs {
                q.push(format!("{b}/{a}"));
            }
        }
    }
    q.sort();
    q.dedup();
    q.join(";")
}

/// What the receiver should report for the jar's rows: series key -> value (`None`: no point,
/// because the value is NaN or a negative that the rule drops).
fn expected(rules: &[Rule], rows: &[JmxRow]) -> BTreeMap<Key, Option<f64>> {
    let mut out = BTreeMap::new();
    for row in rows {
        let Ok(name) = ObjectName::parse(&row.mbean) else {
            continue;
        };
        let Some(v) = row.as_f64() else {
            continue;
        };
        for r in rules
            .iter()
            .filter(|r| r.beans.iter().any(|b| b.matches(&name)))
        {
            for m in r
                .metrics
                .iter()
                .filter(|m| m.attribute == row.attribute && m.item == row.key)
            {
                let attrs = m
                    .attributes
                    .iter()
                    .filter_map(|(k, s)| attr_value(s, &name).map(|v| (k.clone(), v)))
                    .collect();
                let value = (v.is_finite() && !(m.drop_negative && v < 0.0)).then_some(v);
                out.entry((m.name.clone(), attrs)).or_insert(value);
            }
        }
    }
    out
}

fn index(points: &[Point]) -> BTreeMap<Key, f64> {
    points
        .iter()
        .filter(|p| p.metric != "kafka_obs.target.up")
        .map(|p| ((p.metric.clone(), p.attributes.clone()), p.value))
        .collect()
}

/// Values that other activity in the JVM (our connection, jmxquery's) moves a little.
fn slack(metric: &str) -> Option<f64> {
    match metric {
        "jvm.threads.count" => Some(8.0),
        "jvm.file_descriptor.count" => Some(16.0),
        _ => None,
    }
}

fn compare(
    exp: &BTreeMap<Key, Option<f64>>,
    before: &BTreeMap<Key, f64>,
    after: &BTreeMap<Key, f64>,
) -> Result<usize, String> {
    let gc = |m: &BTreeMap<Key, f64>| -> f64 {
        m.iter()
            .filter(|((n, _), _)| n == "jvm.gc.collections.count")
            .map(|(_, v)| v)
            .sum()
    };
    if gc(before) != gc(after) {
        return Err("a garbage collection happened during the comparison".into());
    }
    let mut problems = Vec::new();
    let mut compared = 0;
    for (key, want) in exp {
        let (a, b) = (before.get(key), after.get(key));
        match (want, a, b) {
            (None, None, None) => {}
            (None, _, _) => problems.push(format!(
                "{key:?}: jmxquery has no finite value, receiver has {a:?} {b:?}"
            )),
            (Some(v), Some(&a), Some(&b)) => {
                compared += 1;
                let ok = if key.0 == "jvm.cpu.recent_utilization" {
                    (0.0..=1.0).contains(v)
                } else if let Some(s) = slack(&key.0) {
                    (v - a).abs() <= s && (v - b).abs() <= s
                } else {
                    a.min(b) <= *v && *v <= a.max(b)
                };
                if !ok {
                    problems.push(format!("{key:?}: jmxquery {v}, receiver {a} then {b}"));
                }
            }
            (Some(v), _, _) => {
                problems.push(format!("{key:?}: jmxquery {v}, receiver {a:?} {b:?}"))
            }
        }
    }
    for key in before.keys() {
        if !exp.contains_key(key) {
            problems.push(format!(
                "{key:?}: reported by the receiver, unknown to jmxquery"
            ));
        }
    }
    if problems.is_empty() {
        Ok(compared)
    } else if problems.iter().all(|p| p.contains("CodeHeap")) {
        // jmxquery's own connection makes the JVM generate code (RMI stubs, adapters), so a
        // code heap can move while it reads and be back before our second poll: not a quiet
        // moment, like a GC; every value must still match in a later attempt.
        Err(format!(
            "the JIT moved a code heap while jmxquery read it ({problems:?})"
        ))
    } else {
        panic!("{} mismatches:\n{}", problems.len(), problems.join("\n"))
    }
}

#[tokio::test]
async fn every_preset_attribute_matches_jmxquery() {
    let scenario = ScenarioJvm::builder()
        .paused()
        .role(Role::Both)
        .start()
        .expect("scenario JVM");
    // Three normal steps: every Kafka value defined (no NaN), counters moved.
    scenario.ticks(3).expect("ticks");
    let config = common::config(&format!(
        "{{endpoint: '127.0.0.1:{}', target_system: 'jvm,kafka,kafka-producer,kafka-consumer', timeout: 10s}}",
        scenario.jmx_port()
    ));
    let rules = config.all_rules().expect("rules");
    let q = query(&rules);
    let mut poller = common::poller(&config);
    for attempt in 1..=4 {
        let (before, outcome) = poller.poll().await;
        assert!(
            matches!(outcome, kafka_obs_receiver::jmx::PollOutcome::Up { .. }),
            "{outcome:?}"
        );
        let rows = jmxquery_rows(&scenario.jmx_url(), &q, None).expect("jmxquery");
        let (after, _) = poller.poll().await;
        let exp = expected(&rules, &rows);
        match compare(&exp, &index(&points(&before)), &index(&points(&after))) {
            Ok(compared) => {
                // Client, broker and JVM series, heap parts and GC counts among them.
                assert!(compared > 120, "only {compared} values compared");
                for must in [
                    "jvm.memory.heap.used",
                    "jvm.memory.heap.committed",
                    "jvm.memory.heap.max",
                    "jvm.memory.nonheap.used",
                    "jvm.gc.collections.count",
                    "jvm.gc.collections.elapsed",
                    "kafka.producer.buffer-available-bytes",
                    "kafka.consumer.records-lag",
                    "kafka.request.time.99p",
                    "kafka.network.io",
                ] {
                    assert!(
                        exp.iter().any(|((n, _), v)| n == must && v.is_some()),
                        "{must} not compared"
                    );
                }
                eprintln!("{compared} values equal to jmxquery's (attempt {attempt})");
                return;
            }
            Err(why) => eprintln!("attempt {attempt}: {why}; again"),
        }
    }
    panic!("no quiet moment for the comparison in 4 attempts");
}
