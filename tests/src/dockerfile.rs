//! A Dockerfile and `.dockerignore` reader for the deploy-kit test: global ARGs, stages and
//! their instructions (continuation lines joined, comments dropped), and the ignore patterns
//! the test knows how to match. Anything else is a panic naming the line, so a Dockerfile
//! the reader does not understand fails the test rather than passing it unread.

use std::collections::BTreeMap;

#[derive(Debug)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

#[derive(Debug, Default)]
pub struct Stage {
    pub image: String,
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// The Dockerfile as global ARGs and stages (continuation lines joined, comments dropped).
pub fn parse_dockerfile(text: &str) -> (BTreeMap<String, String>, Vec<Stage>) {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.is_empty(),
        "Dockerfile ends inside a continued line"
    );
    let mut args = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let rest = rest.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                other => panic!("unexpected FROM {other:?}"),
            };
            stages.push(Stage {
                image: words[0].to_string(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(Instruction {
                keyword,
                args: rest,
            });
        } else {
            assert_eq!(keyword, "ARG", "only ARG may come before the first FROM");
            let (k, v) = rest.split_once('=').expect("global ARG with a default");
            args.insert(k.to_string(), v.to_string());
        }
    }
    (args, stages)
}

/// `.dockerignore` patterns; only the forms the test can match are allowed.
#[derive(Debug)]
pub enum Ignore {
    /// A path: it and everything below it.
    Path(String),
    /// `**/*.<ext>`: any file with that extension.
    Extension(String),
}

/// The patterns of a `.dockerignore` file; only the forms [`ignored`] can match are allowed.
pub fn parse_dockerignore(text: &str) -> Vec<Ignore> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            if let Some(ext) = l.strip_prefix("**/*.") {
                assert!(
                    !ext.contains(['*', '?', '/', '[']),
                    "unsupported .dockerignore pattern {l:?}"
                );
                Ignore::Extension(ext.to_string())
            } else {
                assert!(
                    !l.contains(['*', '?', '!', '[']) && !l.starts_with('/'),
                    "unsupported .dockerignore pattern {l:?} (use a plain path or **/*.ext, or teach kafka_obs_tests::dockerfile)"
                );
                Ignore::Path(l.trim_end_matches('/').to_string())
            }
        })
        .collect()
}

/// Whether `path` (relative to the build context) is left out of the context.
pub fn ignored(patterns: &[Ignore], path: &str) -> bool {
    patterns.iter().any(|p| match p {
        Ignore::Path(p) => path == p || path.starts_with(&format!("{p}/")),
        Ignore::Extension(ext) => path.ends_with(&format!(".{ext}")),
    })
}

/// `["a", "b"]` (exec form).
pub fn json_array(args: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|e| panic!("{args:?} is not in exec form (a JSON array): {e}"))
}
