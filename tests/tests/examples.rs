//! Every example configuration under `examples/` passes `kafka-obs validate` on its embedded
//! defaults, so the documentation never shows a config that does not start.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use kafka_obs_tests::kafka_obs_bin;

#[test]
fn every_example_config_validates() {
    let dir = kafka_obs_testkit::workspace_root().join("examples");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
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
        let out = Command::new(kafka_obs_bin())
            .arg("validate")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
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
