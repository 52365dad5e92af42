//! Just enough of a Cargo.toml reader for the deploy-kit test: the workspace's members and
//! `key = "value"` lines of a table, which is all the Dockerfile's checks need to agree with
//! Cargo (no TOML dependency for a handful of lines we write ourselves).

/// `key = "value"` in the first table named `table` of a Cargo.toml (enough for our manifests).
pub fn toml_value(text: &str, table: &str, key: &str) -> Option<String> {
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == format!("[{table}]") || line == format!("[[{table}]]");
            continue;
        }
        if in_table
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// The `members = [...]` list of a workspace's Cargo.toml.
pub fn workspace_members(text: &str) -> Vec<String> {
    let start = text.find("members = [").expect("workspace members");
    let rest = &text[start + "members = [".len()..];
    let end = rest.find(']').expect("end of members");
    rest[..end]
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
