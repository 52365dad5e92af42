//! User rules: the shipped example's business rules A1-A4 on the scenario's business metrics,
//! and every rule kind (threshold, ratio, increase, trend, storm, absence) on metrics with
//! arbitrary names and attributes, as an application would push them over OTLP.

use crate::common;

use common::{Harness, P, SECOND, all, p};
use kafka_obs_processor::signals::{Engine, SignalsConfig};

/// The `signals` connector body of `examples/signals-business-rules.yaml`.
fn example_engine() -> Harness {
    let text = include_str!("../../examples/signals-business-rules.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("example parses");
    let body = &doc["connectors"]["signals"];
    let config = SignalsConfig::parse(body).expect("example is valid");
    assert_eq!(config.rules.len(), 4, "exactly A1-A4");
    let mut h = Harness::new("");
    h.engine = Engine::new(config);
    h
}

struct Business {
    processed: f64,
    validation_failures: f64,
    latency: f64,
    calls: f64,
    failures: f64,
}

impl Business {
    fn points(&self) -> Vec<P> {
        vec![
            p("orders-processed-count", &[], self.processed),
            p("order-validation-failures", &[], self.validation_failures),
            p("inventory-check-latency", &[], self.latency),
            p("payment-gateway-calls", &[], self.calls),
            p("payment-gateway-failures", &[], self.failures),
        ]
    }

    /// One scenario tick of `normal` (+100 orders and calls) or `error-burst` (+3 validation
    /// failures, +2 failed calls).
    fn tick(&mut self, burst: bool, latency: f64) {
        self.processed += 100.0;
        self.calls += 100.0;
        if burst {
            self.validation_failures += 3.0;
            self.failures += 2.0;
        }
        self.latency = latency;
    }
}

#[test]
fn the_example_expresses_a1_to_a4() {
    let mut h = example_engine();
    let mut b = Business {
        processed: 0.0,
        validation_failures: 0.0,
        latency: 45.0,
        calls: 0.0,
        failures: 0.0,
    };
    let run = |h: &mut Harness, b: &Business| {
        let mut s = common::said(&h.poll(&b.points()).signals);
        s.sort();
        s
    };
    // The first reading is a baseline.
    assert!(run(&mut h, &b).is_empty());
    b.tick(false, 45.0);
    assert_eq!(
        run(&mut h, &b),
        ["Counters.INCREMENT@A1", "Services.CALL.CALLER@A4"]
    );
    b.tick(true, 45.0);
    assert_eq!(
        run(&mut h, &b),
        [
            "Counters.INCREMENT@A1",
            "Probes.FAIL.INBOUND@A2",
            "Services.CALL.CALLER@A4",
            "Services.FAIL.CALLER@A4"
        ]
    );
    b.tick(false, 1500.0);
    assert_eq!(
        run(&mut h, &b),
        [
            "Counters.INCREMENT@A1",
            "Probes.SUCCEED.INBOUND@A2", // no new failure: A2's condition recovers
            "Services.CALL.CALLER@A4",
            "Services.EXPIRE.CALLER@A3",
            "Services.SUCCESS.CALLER@A4"
        ]
    );
    b.tick(false, 45.0);
    assert_eq!(
        run(&mut h, &b),
        [
            "Counters.INCREMENT@A1",
            "Services.CALL.CALLER@A4",
            "Services.SUCCESS.CALLER@A3"
        ]
    );
}

#[test]
fn a1_counter_reset_is_a_reset_not_a_huge_increment() {
    let mut h = example_engine();
    h.poll(&[p("orders-processed-count", &[], 5000.0)]);
    let e = h.poll(&[p("orders-processed-count", &[], 100.0)]);
    assert_eq!(common::said(&e.signals), ["Counters.RESET@A1"]);
    let e = h.poll(&[p("orders-processed-count", &[], 200.0)]);
    assert_eq!(e.signals[0].evidence.get("delta"), Some(100.0));
}

#[test]
fn threshold_rules_match_attributes_and_keep_hysteresis() {
    let mut h = Harness::new(
        "packs: {}\n\
         rules:\n\
         - name: checkout-slow\n\
         \x20 metric: http.server.duration.p99\n\
         \x20 match: {http.route: /checkout}\n\
         \x20 threshold:\n\
         \x20   bands:\n\
         \x20     - {emit: Sensors.NOMINAL.THRESHOLD}\n\
         \x20     - {above: 200, emit: Sensors.ABOVE.THRESHOLD}\n\
         \x20     - {above: 1000, emit: Statuses.DEGRADED.MEASURED}\n",
    );
    let checkout = [("http.route", "/checkout")];
    let other = [("http.route", "/health")];
    let mut poll = |v: f64| {
        common::said(
            &h.poll(&[
                p("http.server.duration.p99", &checkout, v),
                p("http.server.duration.p99", &other, 5000.0),
            ])
            .signals,
        )
    };
    assert!(poll(100.0).is_empty());
    assert_eq!(poll(250.0), ["Sensors.ABOVE.THRESHOLD@checkout-slow"]);
    assert_eq!(poll(1200.0), ["Statuses.DEGRADED.MEASURED@checkout-slow"]);
    assert!(poll(960.0).is_empty()); // above 1000 - 5 %
    // DEGRADED ends (its recovery under the same rule and instrument); ABOVE is no condition.
    assert_eq!(
        poll(900.0),
        [
            "Sensors.ABOVE.THRESHOLD@checkout-slow",
            "Statuses.STABLE.MEASURED@checkout-slow"
        ]
    );
    assert_eq!(poll(100.0), ["Sensors.NOMINAL.THRESHOLD@checkout-slow"]);
}

#[test]
fn ratio_of_two_metrics_of_the_same_series() {
    let mut h = Harness::new(
        "packs: {}\n\
         rules:\n\
         - name: pool-use\n\
         \x20 metric: db.pool.used\n\
         \x20 ratio:\n\
         \x20   denominator: db.pool.max\n\
         \x20   bands:\n\
         \x20     - {emit: Resources.GRANT}\n\
         \x20     - {above: 0.9, emit: Resources.DENY}\n",
    );
    let pool = |used: f64, name: &str| {
        vec![
            p("db.pool.used", &[("pool", name)], used),
            p("db.pool.max", &[("pool", name)], 10.0),
        ]
    };
    let mut both = pool(9.5, "a");
    both.extend(pool(2.0, "b"));
    let e = h.poll(&both);
    assert_eq!(common::said(&e.signals), ["Resources.DENY@pool-use"]);
    assert_eq!(
        e.signals[0].attributes.get("pool").map(String::as_str),
        Some("a")
    );
    assert!((e.signals[0].evidence.get("ratio").unwrap_or(0.0) - 0.95).abs() < 1e-9);
}

#[test]
fn trend_rules_flag_a_sustained_rise_not_a_spike() {
    let yaml = "packs: {}\nrules:\n- name: queue-trend\n  metric: app.queue.depth\n  trend: {}\n";
    let mut h = Harness::new(yaml);
    let mut out = Vec::new();
    for v in [10.0, 11.0, 10.0, 400.0, 10.0, 12.0, 30.0, 80.0, 200.0] {
        out.extend(common::said(
            &h.poll(&[p("app.queue.depth", &[], v)]).signals,
        ));
    }
    assert_eq!(out, ["Statuses.DIVERGING.MEASURED@queue-trend"]);
}

#[test]
fn storm_rules_count_events_within_a_window() {
    let yaml = "packs: {}\nrules:\n- name: restarts\n  metric: app.restarts\n  storm: {events: 3, within: 1m}\n";
    let mut h = Harness::new(yaml);
    let mut out = Vec::new();
    for v in [
        0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0,
    ] {
        out.extend(common::said(&h.poll(&[p("app.restarts", &[], v)]).signals));
    }
    assert_eq!(
        out,
        [
            "Statuses.ERRATIC.CONFIRMED@restarts",
            "Statuses.STABLE.MEASURED@restarts"
        ]
    );
}

#[test]
fn absence_rules_fire_once_and_recover() {
    let yaml = "packs: {}\nstale_after: 30s\nrules:\n- name: job-alive\n  metric: job.heartbeat\n  absence: {after: 1m, emit: Probes.FAIL.INBOUND, recover: Probes.SUCCEED.INBOUND}\n";
    let mut h = Harness::new(yaml);
    h.poll(&[p("job.heartbeat", &[("job", "settle")], 1.0)]);
    let mut out = Vec::new();
    for _ in 0..10 {
        h.now += 10 * SECOND;
        out.extend(all(&h.engine.sweep(h.now).signals));
    }
    assert_eq!(out, ["Probes.FAIL.INBOUND@job-alive"]);
    let e = h.poll(&[p("job.heartbeat", &[("job", "settle")], 1.0)]);
    assert!(common::said(&e.signals).contains(&"Probes.SUCCEED.INBOUND@job-alive".to_string()));
}

#[test]
fn user_rules_read_sums_from_otlp_as_well_as_gauges() {
    use opentelemetry_proto::tonic::metrics::v1::{Sum, metric::Data};
    let yaml = "packs: {}\nrules:\n- name: A1\n  metric: orders-processed-count\n  increase: {emit: Counters.INCREMENT}\n";
    let mut h = Harness::new(yaml);
    let send = |h: &mut Harness, v: f64| {
        h.now += 10 * SECOND;
        let mut req = common::request(
            &[("service.name", "orders")],
            &[p("orders-processed-count", &[], v)],
            h.now,
        );
        for m in &mut req.resource_metrics[0].scope_metrics[0].metrics {
            if let Some(Data::Gauge(g)) = m.data.take() {
                m.data = Some(Data::Sum(Sum {
                    data_points: g.data_points,
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }));
            }
        }
        common::said(&h.engine.evaluate(&req, h.now).signals)
    };
    assert!(send(&mut h, 10.0).is_empty());
    assert_eq!(send(&mut h, 25.0), ["Counters.INCREMENT@A1"]);
}
