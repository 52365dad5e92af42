//! Every component the binary registers (`kafka-obs components`) has its reference page in
//! `docs/components/` (a page whose title is `# <Kind> `<type>``), with a table of keys and an
//! example, and `docs/configuration.md` links it.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use kafka_obs_tests::kafka_obs_bin;

#[test]
fn every_registered_component_has_a_linked_reference_page() {
    let out = Command::new(kafka_obs_bin())
        .arg("components")
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let docs = kafka_obs_testkit::workspace_root().join("docs");
    let pages: Vec<(String, String)> = std::fs::read_dir(docs.join("components"))
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_str().unwrap().to_string();
            let text = std::fs::read_to_string(e.path()).unwrap();
            (name, text)
        })
        .collect();
    let configuration = std::fs::read_to_string(docs.join("configuration.md")).unwrap();
    let mut problems = Vec::new();
    let mut components = 0;
    for line in table.lines().skip(1) {
        let mut words = line.split_whitespace();
        let (Some(kind), Some(type_name)) = (words.next(), words.next()) else {
            continue;
        };
        components += 1;
        let mut title_kind = kind.to_string();
        title_kind[..1].make_ascii_uppercase();
        let title = format!("# {title_kind} `{type_name}`");
        let Some((file, text)) = pages
            .iter()
            .find(|(_, text)| text.lines().next().is_some_and(|l| l.starts_with(&title)))
        else {
            problems.push(format!(
                "{kind} {type_name}: no docs/components/*.md titled {title:?}"
            ));
            continue;
        };
        if !text.contains("| key | type | default |") && !text.contains("| key | default |") {
            problems.push(format!(
                "{file}: no table of keys (| key | type | default | ...)"
            ));
        }
        if !text.contains("```yaml") {
            problems.push(format!("{file}: no YAML example"));
        }
        if !configuration.contains(&format!("(components/{file})")) {
            problems.push(format!(
                "docs/configuration.md does not link components/{file}"
            ));
        }
    }
    assert!(components >= 10, "{table}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
