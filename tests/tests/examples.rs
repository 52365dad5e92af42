//! Every example configuration under `examples/` passes `kafka-obs validate` on its embedded
//! defaults, so the documentation never shows a config that does not start. A variable an
//! example requires (`${env:NAME}` without a default, such as the sidecar's AGGREGATOR_URL)
//! gets the value from [`REQUIRED_ENV`], which must know every such variable.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use kafka_obs_tests::kafka_obs_bin;

/// Values for the variables examples require, as a user would set them.
const REQUIRED_ENV: &[(&str, &str)] = &[("AGGREGATOR_URL", "http://kafka-obs-aggregator:50051")];

/// The `${env:NAME}` references of a YAML text that have no default (comments ignored).
fn required_variables(text: &str) -> Vec<String> {
    let Ok(value) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else {
        return Vec::new(); // validate reports the syntax error
    };
    let plain = serde_yaml_ng::to_string(&value).unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = plain.as_str();
    while let Some(start) = rest.find("${env:") {
        let after = &rest[start + 6..];
        let end = after.find('}').unwrap_or(after.len());
        let reference = &after[..end];
        if !reference.contains(":-") {
            out.push(reference.to_string());
        }
        rest = &after[end..];
    }
    out
}

#[test]
fn every_example_config_validates() {
    let dir = kafka_obs_testkit::workspace_root().join("examples");
    let mut checked = 0;
    let mut failures = Vec::new();
    // The federation set (three tiers) lives in its own folder.
    let mut entries: Vec<_> = [dir.clone(), dir.join("federation")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().flatten())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut command = Command::new(kafka_obs_bin());
        command.arg("validate").arg("--config").arg(&path);
        for name in required_variables(&text) {
            let Some((_, value)) = REQUIRED_ENV.iter().find(|(n, _)| *n == name) else {
                failures.push(format!(
                    "{}: requires ${{env:{name}}}; add a value to REQUIRED_ENV in tests/tests/examples.rs",
                    path.display()
                ));
                continue;
            };
            command.env(&name, value);
        }
        let out = command.output().unwrap();
        checked += 1;
        if !out.status.success() {
            failures.push(format!(
                "{}:\n{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        checked >= 1,
        "no example configs found in {}",
        dir.display()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
