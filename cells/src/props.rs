//! Property tests of the roll-up and the incident life cycle:
//!
//! - the roll-up does not depend on the order signals arrive in;
//! - a healthy child (a new cell, or a new healthy reading) never makes any cell worse;
//! - a child going stale never makes any cell worse;
//! - memory per cell is bounded whatever arrives;
//! - after any sequence of signals, ticks and cluster drops, the incremental state equals a
//!   recomputation from scratch, and once everything is forgotten no name is left interned;
//! - every incident opens once and closes once, and every performed opening notification is
//!   matched by one performed close;
//! - both hold with status lists pruning readings and clusters judged DOWN (B3) from their
//!   brokers' controller flags mixed in.

#![allow(clippy::field_reassign_with_default)]

use std::{collections::HashMap, time::Duration};

use kafka_obs_signal::{
    Evidence, Signal, SignalKind, Subject,
    condition::{CURRENT, STATUS_RULE, current_list},
    members,
    statuses::{Confidence, Sign},
};
use proptest::{collection, prelude::*, sample};

use crate::{
    ActionKind, CONTROLLER_RULE, Event, Hierarchy, HierarchyConfig, Status,
    cell::MAX_EVIDENCE,
    tests::{S, T0},
};

/// A small universe of subjects from both hierarchies, so cells share ancestors.
fn subjects() -> Vec<Subject> {
    let mut out = Vec::new();
    for cluster in ["a", "b"] {
        out.push(Subject::from_pairs([("cluster", cluster)]));
        for broker in ["1", "2"] {
            out.push(Subject::from_pairs([
                ("cluster", cluster),
                ("broker", broker),
            ]));
            for topic in ["x", "y"] {
                for partition in ["0", "1"] {
                    out.push(Subject::from_pairs([
                        ("cluster", cluster),
                        ("broker", broker),
                        ("topic", topic),
                        ("partition", partition),
                    ]));
                }
            }
        }
        for service in ["s1", "s2"] {
            out.push(Subject::from_pairs([
                ("cluster", cluster),
                ("service", service),
                ("instance", "i1"),
            ]));
            for client in ["c1", "c2"] {
                out.push(Subject::from_pairs([
                    ("cluster", cluster),
                    ("service", service),
                    ("instance", "i1"),
                    ("client", client),
                    ("topic", "x"),
                ]));
            }
        }
    }
    out.into_iter().filter_map(Result::ok).collect()
}

fn sign() -> impl Strategy<Value = Sign> {
    sample::select(Sign::ALL.to_vec())
}

fn confidence() -> impl Strategy<Value = Confidence> {
    sample::select(Confidence::ALL.to_vec())
}

/// One Statuses reading: (subject index, rule, source, status).
type Spec = (usize, u8, u8, Sign, Confidence);

fn spec() -> impl Strategy<Value = Spec> {
    (0..subjects().len(), 0..3u8, 0..2u8, sign(), confidence())
}

fn signal(subjects: &[Subject], spec: &Spec, t: u64) -> Signal {
    let (s, rule, source, sign, confidence) = *spec;
    Signal::new(
        subjects[s].clone(),
        SignalKind::Statuses(sign, confidence),
        Evidence::rule(format!("r{rule}")),
        t,
    )
    .from_source(format!("src{source}"))
}

/// The signals of a condition's life besides plain readings, from the same spec: a status
/// signal listing the rules `r0 .. r{rule-1}` as its source's current conditions (`list`), or
/// a broker's controller flag, ELECT or RESIGN by the sign's parity (on a non-broker subject
/// it is ignored).
fn life_signal(subjects: &[Subject], spec: &Spec, list: bool, t: u64) -> Signal {
    let (s, rule, source, sign, confidence) = *spec;
    let subject = subjects[s].clone();
    if list {
        let rules: Vec<String> = (0..rule).map(|r| format!("r{r}")).collect();
        return Signal::new(
            subject,
            SignalKind::Statuses(sign, confidence),
            Evidence::rule(STATUS_RULE),
            t,
        )
        .from_source(format!("src{source}"))
        .with_attribute(CURRENT, current_list(rules.iter().map(String::as_str)));
    }
    let flag = if sign.rank() % 2 == 0 {
        members::Sign::Elect
    } else {
        members::Sign::Resign
    };
    Signal::new(
        subject,
        SignalKind::Members(flag, members::Dimension::Own),
        Evidence::rule(CONTROLLER_RULE),
        t,
    )
    .from_source(format!("src{source}"))
}

/// Severity for "never worse" comparisons: no status counts as STABLE.
fn severity(status: Option<Status>) -> u8 {
    status.map_or(0, |s| s.sign.rank())
}

fn rolled_by_path(h: &Hierarchy) -> HashMap<String, (Option<Status>, bool)> {
    h.cells().map(|c| (c.path, (c.rolled, c.stale))).collect()
}

fn engine(config: HierarchyConfig) -> Hierarchy {
    Hierarchy::new(config).unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn roll_up_is_independent_of_arrival_order(
        (specs, shuffled) in collection::vec(spec(), 1..40).prop_flat_map(|v| {
            // One reading per key: the latest value per key is order dependent by design.
            let mut seen = std::collections::HashSet::new();
            let unique: Vec<Spec> = v
                .into_iter()
                .filter(|s| seen.insert((s.0, s.1, s.2)))
                .collect();
            (Just(unique.clone()), Just(unique).prop_shuffle())
        })
    ) {
        let subjects = subjects();
        let mut a = engine(HierarchyConfig::default());
        let mut b = engine(HierarchyConfig::default());
        for s in &specs {
            a.ingest(&signal(&subjects, s, T0), T0);
        }
        for s in &shuffled {
            b.ingest(&signal(&subjects, s, T0), T0);
        }
        prop_assert_eq!(a.check(), Ok(()));
        prop_assert_eq!(b.check(), Ok(()));
        prop_assert_eq!(a.len(), b.len());
        let view = |h: &Hierarchy| {
            let mut v: Vec<_> = h
                .cells()
                .map(|c| (c.path, c.own, c.rolled, c.status, c.situation.sign))
                .collect();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        prop_assert_eq!(view(&a), view(&b));
    }

    #[test]
    fn a_healthy_child_never_worsens_any_cell(
        specs in collection::vec(spec(), 0..40),
        target in 0..subjects().len(),
        confidence in confidence(),
        same_key in any::<bool>(),
    ) {
        let subjects = subjects();
        let mut h = engine(HierarchyConfig::default());
        for (i, s) in specs.iter().enumerate() {
            h.ingest(&signal(&subjects, s, T0 + i as u64), T0 + i as u64);
        }
        let before = rolled_by_path(&h);
        let t = T0 + 1000;
        let healthy = if same_key {
            // A healthy reading replacing one of an existing key (or a new one).
            signal(&subjects, &(target, 0, 0, Sign::Stable, confidence), t)
        } else {
            // A brand-new healthy child cell, or a new healthy key on an existing cell.
            let mut subject = subjects[target].clone();
            let _ = subject.push("extra", "new");
            Signal::new(subject, SignalKind::Statuses(Sign::Stable, confidence), Evidence::rule("new"), t)
        };
        h.ingest(&healthy, t);
        prop_assert_eq!(h.check(), Ok(()));
        for cell in h.cells() {
            if let Some((old, _)) = before.get(&cell.path) {
                prop_assert!(
                    severity(cell.rolled) <= severity(*old),
                    "{} got worse: {:?} -> {:?}", cell.path, old, cell.rolled
                );
            }
        }
    }

    #[test]
    fn a_child_going_stale_never_worsens_any_cell(
        early in collection::vec(spec(), 1..40),
        late in collection::vec(spec(), 0..20),
    ) {
        let subjects = subjects();
        let mut config = HierarchyConfig::default();
        config.stale_after = Duration::from_secs(100);
        config.observer.reading_ttl = Duration::from_secs(3600);
        config.forget_after = Duration::from_secs(3600);
        let mut h = engine(config);
        for s in &early {
            h.ingest(&signal(&subjects, s, T0), T0);
        }
        for s in &late {
            h.ingest(&signal(&subjects, s, T0 + 50 * S), T0 + 50 * S);
        }
        let before = rolled_by_path(&h);
        h.tick(T0 + 101 * S);
        prop_assert_eq!(h.check(), Ok(()));
        let mut went_stale = 0;
        for cell in h.cells() {
            let (old, was_stale) = before[&cell.path];
            prop_assert!(!was_stale);
            went_stale += usize::from(cell.stale);
            if !cell.stale {
                prop_assert!(
                    severity(cell.rolled) <= severity(old),
                    "{} got worse: {:?} -> {:?}", cell.path, old, cell.rolled
                );
            }
        }
        // Everything touched only early went stale.
        if late.is_empty() {
            prop_assert_eq!(went_stale, h.len() - 1);
        }
    }

    #[test]
    fn memory_per_cell_is_bounded(
        signals in collection::vec(
            (
                0..3usize,
                sample::select(SignalKind::all()),
                0..40u8,
                0..5u8,
                collection::btree_map("[a-z]{1,6}", -1e6..1e6f64, 0..12),
                0..30u64,
            ),
            1..300,
        ),
    ) {
        let mut config = HierarchyConfig::default();
        config.max_readings_per_cell = 8;
        config.history_len = 8;
        let mut h = engine(config);
        let cells = [
            Subject::from_pairs([("cluster", "a"), ("broker", "1")]),
            Subject::from_pairs([("cluster", "a"), ("broker", "2")]),
            Subject::from_pairs([("cluster", "a"), ("service", "s")]),
        ];
        let mut t = T0;
        for (cell, kind, rule, source, values, dt) in &signals {
            t += dt * S;
            let Ok(subject) = cells[*cell].clone() else { continue };
            let mut evidence = Evidence::rule(format!("rule-{rule}"));
            evidence.values = values.clone();
            let signal = Signal::new(subject, *kind, evidence, t).from_source(format!("s{source}"));
            h.ingest(&signal, t);
            h.tick(t);
        }
        prop_assert_eq!(h.check(), Ok(()));
        let settings = &h.settings;
        let bound = settings.max_readings
            * (std::mem::size_of::<crate::cell::Reading>() + MAX_EVIDENCE * 16)
            + 64 * std::mem::size_of::<crate::cell::Reading>() // Vec growth slack
            + std::mem::size_of::<kafka_obs_signal::Scorecard>()
            + 21 * 4
            + settings.volatile_at as usize * 8 * 2
            + settings.history_len * 2 * std::mem::size_of::<crate::HistoryEntry>();
        for c in h.cells.iter().filter(|c| c.used) {
            prop_assert!(c.readings.len() <= 8);
            prop_assert!(c.readings.iter().all(|r| r.evidence.len() <= MAX_EVIDENCE));
            prop_assert!(c.history.len() <= 8);
            prop_assert!(c.transitions.len() <= settings.volatile_at as usize);
            let bytes = c.heap_bytes() - c.children.capacity() * 4;
            prop_assert!(bytes <= bound, "{bytes} > {bound}");
        }
    }

    #[test]
    fn random_operations_keep_every_invariant_and_free_everything_at_the_end(
        ops in collection::vec(
            prop_oneof![
                4 => (spec(), 0..20u64).prop_map(|(s, dt)| (0u8, s, dt)),
                1 => (spec(), 0..200u64).prop_map(|(s, dt)| (1u8, s, dt)),
                1 => (spec(), 0..2u64).prop_map(|(s, dt)| (2u8, s, dt)),
                1 => (spec(), 0..20u64).prop_map(|(s, dt)| (3u8, s, dt)),
                2 => (spec(), 0..20u64).prop_map(|(s, dt)| (4u8, s, dt)),
            ],
            1..120,
        ),
    ) {
        let subjects = subjects();
        let mut config = HierarchyConfig::default();
        config.max_cells = 12;
        config.stale_after = Duration::from_secs(60);
        config.forget_after = Duration::from_secs(120);
        config.incidents.close_after = Duration::from_secs(30);
        config.controller_grace = Duration::from_secs(10);
        let mut h = engine(config);
        let baseline = h.stats().strings;
        let mut t = T0;
        for (op, s, dt) in &ops {
            t += dt * S;
            match op {
                0 => {
                    h.ingest(&signal(&subjects, s, t), t);
                }
                1 => {
                    h.tick(t);
                }
                2 => {
                    h.drop_cluster(if s.0 % 2 == 0 { "a" } else { "b" });
                }
                _ => {
                    h.ingest(&life_signal(&subjects, s, *op == 3, t), t);
                }
            }
            prop_assert_eq!(h.check(), Ok(()));
            prop_assert!(h.len() <= 12);
        }
        h.tick(t + 1000 * S);
        h.tick(t + 2000 * S);
        prop_assert_eq!(h.check(), Ok(()));
        prop_assert_eq!(h.len(), 1);
        prop_assert_eq!(h.stats().strings, baseline);
        prop_assert_eq!(h.stats().incidents_open, 0);
    }

    #[test]
    fn every_incident_opens_once_and_closes_once(
        ops in collection::vec((spec(), 0..40u64, any::<bool>(), 0..6u8), 1..150),
    ) {
        let subjects = subjects();
        let mut config = HierarchyConfig::default();
        config.incidents.close_after = Duration::from_secs(60);
        config.stale_after = Duration::from_secs(120);
        config.controller_grace = Duration::from_secs(20);
        let mut h = engine(config);
        let mut events = Vec::new();
        let mut t = T0;
        for (s, dt, tick, kind) in &ops {
            t += dt * S;
            // Mostly readings; now and then a status list or a controller flag.
            let signal = match kind {
                0 => life_signal(&subjects, s, true, t),
                1 => life_signal(&subjects, s, false, t),
                _ => signal(&subjects, s, t),
            };
            h.ingest_into(&signal, t, &mut events);
            if *tick {
                h.tick_into(t, &mut events);
            }
        }
        // Quiet: everything goes stale, every incident closes.
        h.tick_into(t + 200 * S, &mut events);
        h.tick_into(t + 400 * S, &mut events);
        prop_assert_eq!(h.stats().incidents_open, 0);
        let mut opens: HashMap<u64, usize> = HashMap::new();
        let mut closes: HashMap<u64, usize> = HashMap::new();
        let (mut notified_open, mut notified_close) = (0, 0);
        for e in &events {
            match e {
                Event::IncidentOpened(i) => *opens.entry(i.id).or_default() += 1,
                Event::IncidentClosed(i) => *closes.entry(i.id).or_default() += 1,
                Event::Action(a) if a.perform() && a.kind == ActionKind::NotifyOpen => notified_open += 1,
                Event::Action(a) if a.perform() && a.kind == ActionKind::NotifyClose => notified_close += 1,
                _ => {}
            }
        }
        prop_assert!(opens.values().all(|&n| n == 1));
        prop_assert_eq!(&opens, &closes);
        prop_assert_eq!(notified_open, notified_close);
    }
}
