//! Config documents: the shipped examples (which validate) with values swapped for odd ones,
//! `${env:...}` references nested and unterminated, YAML alias bombs, deep nesting, duplicated
//! sections. Each stays close enough to a real config to reach the factories' validation.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::{draw, pick, size};

/// YAML and config words the mutator splices in.
pub static DICTIONARY: &[&[u8]] = &[
    b"receivers:\n",
    b"exporters:\n",
    b"processors:\n",
    b"connectors:\n",
    b"extensions:\n",
    b"service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n",
    b"${env:HOME}",
    b"${env:KAFKA_OBS_FUZZ_UNSET:-",
    b"${env:",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary ",
    b"{",
    b"[",
    b"- ",
    b": ",
    b"\n  ",
    b"endpoint: ",
    b"10s",
    b"64MiB",
];

/// The examples, as shipped.
const EXAMPLES: &[&str] = &[
    include_str!("../../../examples/aggregator.yaml"),
    include_str!("../../../examples/broker.yaml"),
    include_str!("../../../examples/central-scale-out.yaml"),
    include_str!("../../../examples/central.yaml"),
    include_str!("../../../examples/jmx-to-file.yaml"),
    include_str!("../../../examples/multi-exporter.yaml"),
    include_str!("../../../examples/otelcol-spellings.yaml"),
    include_str!("../../../examples/otlp-gateway.yaml"),
    include_str!("../../../examples/sidecar-otlp.yaml"),
    include_str!("../../../examples/sidecar.yaml"),
    include_str!("../../../examples/signals-business-rules.yaml"),
    include_str!("../../../examples/signals-sidecar.yaml"),
];

/// One config document.
pub fn document(runner: &mut TestRunner) -> Vec<u8> {
    let mut lines: Vec<String> = pick(runner, EXAMPLES).lines().map(String::from).collect();
    for _ in 0..=size(runner, 4) {
        match runner.rng().random_range(0..6) {
            0 | 1 => replace_value(runner, &mut lines),
            2 => lines.extend(alias_bomb(runner)),
            3 => lines.push(deep_nesting(runner)),
            4 => duplicate_section(runner, &mut lines),
            _ => lines.push(format!("x{}: {}", size(runner, 99), odd_scalar(runner))),
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

fn odd_scalar(runner: &mut TestRunner) -> String {
    draw(
        runner,
        prop_oneof![
            Just("${env:HOME}".to_string()),
            Just("${env:KAFKA_OBS_FUZZ_UNSET:-${env:KAFKA_OBS_FUZZ_UNSET:-10s}}".to_string()),
            Just("${env:".to_string()),
            Just("$${env:HOME}".to_string()),
            Just("${env:KAFKA_OBS_FUZZ_UNSET}".to_string()),
            Just("99999999999999999999999s".to_string()),
            Just("-1ms".to_string()),
            Just("1e400MiB".to_string()),
            Just("18446744073709551616".to_string()),
            Just("0.0.0.0:99999".to_string()),
            Just("'[::1]:4317'".to_string()),
            Just("~".to_string()),
            Just("\"\\u0000\"".to_string()),
            Just("*undefined".to_string()),
            Just("[]".to_string()),
            Just("{}".to_string()),
            "[a-z0-9:/._-]{0,40}",
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            (1usize..200_000).prop_map(|n| "z".repeat(n)),
        ],
    )
}

/// Swaps the value after a `key:` on a random line.
fn replace_value(runner: &mut TestRunner, lines: &mut [String]) {
    if lines.is_empty() {
        return;
    }
    let i = runner.rng().random_range(0..lines.len());
    let scalar = odd_scalar(runner);
    if let Some(line) = lines.get_mut(i)
        && let Some(colon) = line.find(": ")
    {
        line.truncate(colon + 2);
        line.push_str(&scalar);
    }
}

/// `levels` anchors, each a list of `width` aliases of the one before: width^levels nodes if
/// aliases are expanded.
fn alias_bomb(runner: &mut TestRunner) -> Vec<String> {
    let levels = size(runner, 12).max(1);
    let width = size(runner, 16).max(2);
    let mut out = vec!["b0: &b0 [lol]".to_string()];
    for level in 1..=levels {
        let items = vec![format!("*b{}", level - 1); width].join(", ");
        out.push(format!("b{level}: &b{level} [{items}]"));
    }
    out
}

fn deep_nesting(runner: &mut TestRunner) -> String {
    let depth = size(runner, 100_000);
    format!("deep: {}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Repeats a top-level section (a duplicate key).
fn duplicate_section(runner: &mut TestRunner, lines: &mut Vec<String>) {
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.ends_with(':') && !l.starts_with([' ', '#']))
        .map(|(i, _)| i)
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = pick(runner, &starts);
    let end = lines
        .iter()
        .skip(start + 1)
        .position(|l| !l.starts_with([' ', '#']) && !l.is_empty())
        .map_or(lines.len(), |p| start + 1 + p);
    let section: Vec<String> = lines.get(start..end).unwrap_or_default().to_vec();
    lines.extend(section);
}
