//! The Grafana dashboard (deploy/grafana/kafka-obs.json): its shape, its PromQL queries, and
//! the check that a query names only metrics, labels and legend labels that were emitted.

use kafka_obs_tests::promql::parse_promql;

use super::*;

/// `{{label}}` references in a legend.
fn legend_labels(legend: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = legend;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").unwrap() + start;
        out.push(rest[start + 2..end].trim().to_string());
        rest = &rest[end + 2..];
    }
    out
}

/// Checks one query against what was emitted; returns the problems found.
pub(super) fn check_query(
    where_: &str,
    expr: &str,
    legend: Option<&str>,
    emitted: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let q = parse_promql(expr);
    if q.selectors.is_empty() {
        problems.push(format!("{where_}: no metric in {expr:?}"));
    }
    let mut available = BTreeSet::new();
    for (metric, matchers) in &q.selectors {
        let Some(labels) = emitted.get(metric) else {
            let stem: String = metric.split('_').take(2).collect::<Vec<_>>().join("_");
            let near: Vec<&String> = emitted.keys().filter(|k| k.starts_with(&stem)).collect();
            problems.push(format!(
                "{where_}: {metric} is not emitted (emitted with that prefix: {near:?})"
            ));
            continue;
        };
        for m in matchers {
            if !labels.contains(m) {
                problems.push(format!(
                    "{where_}: {metric} has no label {m} (labels: {labels:?})"
                ));
            }
        }
        available.extend(labels.iter().cloned());
    }
    for g in &q.grouping {
        if !available.contains(g) {
            problems.push(format!(
                "{where_}: grouping label {g} is on none of its metrics"
            ));
        }
    }
    let result_labels: BTreeSet<String> = if q.grouping.is_empty() {
        available
    } else {
        q.grouping.iter().cloned().collect()
    };
    for l in legend.map(legend_labels).unwrap_or_default() {
        if !result_labels.contains(&l) {
            problems.push(format!(
                "{where_}: legend label {l} is not in the result ({result_labels:?})"
            ));
        }
    }
    problems
}

#[test]
fn check_query_reports_unknown_metrics_labels_and_legends() {
    let emitted = BTreeMap::from([(
        "kafka_consumer_records_lag_max".to_string(),
        BTreeSet::from([
            "job".to_string(),
            "instance".to_string(),
            "client_id".to_string(),
        ]),
    )]);
    let ok = check_query(
        "t",
        r#"max by (job) (kafka_consumer_records_lag_max{client_id!=""})"#,
        Some("{{job}}"),
        &emitted,
    );
    assert!(ok.is_empty(), "{ok:?}");
    let bad = check_query(
        "t",
        r#"sum by (topic) (kafka_consumer_records_lag_max{partition="0"}) + kafka_consumer_lag"#,
        Some("{{client_id}}"),
        &emitted,
    );
    assert_eq!(bad.len(), 4, "{bad:#?}");
}

pub(super) fn dashboard() -> Json {
    serde_json::from_str(&read("deploy/grafana/kafka-obs.json")).expect("valid JSON")
}

#[test]
fn dashboard_is_well_formed() {
    let d = dashboard();
    assert!(d["uid"].is_string() && d["title"].is_string());
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["type"] == "datasource"
            && v["query"] == "prometheus"
            && v["name"] == "datasource"),
        "a Prometheus data source variable"
    );
    let mut ids = BTreeSet::new();
    let mut queries = 0;
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            p["id"]
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{}",
            p["title"]
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{}",
                p["title"]
            );
            queries += 1;
        }
    }
    assert!(queries >= 20, "{queries} queries");
}

/// Every PromQL query of the dashboard: (where, expr, legend).
pub(super) fn dashboard_queries(d: &Json) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!(
                    "panel {:?} ref {}",
                    p["title"].as_str().unwrap_or(""),
                    t["refId"]
                ),
                t["expr"].as_str().unwrap().to_string(),
                t["legendFormat"]
                    .as_str()
                    .filter(|l| *l != "__auto")
                    .map(String::from),
            ));
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| {
                panic!("variable {}: only label_values(selector, label)", v["name"])
            });
        let (selector, label) = inner.rsplit_once(',').unwrap();
        // The label a variable lists must be on its metric: check it as a legend label.
        out.push((
            format!("variable {}", v["name"]),
            selector.trim().to_string(),
            Some(format!("{{{{{}}}}}", label.trim())),
        ));
    }
    out
}
