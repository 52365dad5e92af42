//! `${env:VAR}` and `${env:VAR:-default}` expansion in every string value.
//!
//! A value that is exactly one reference takes the variable's YAML type (`port: ${env:PORT}`
//! becomes a number), as the Collector does; references inside a longer string are spliced in
//! as text. `$$` stands for a literal `$`. An unset variable without a default is an error that
//! names the key: silently running with an empty endpoint helps nobody.

use serde_yaml_ng::Value;

use crate::error::ConfigError;

pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands every string under `value`; `lookup` reads the environment.
pub(crate) fn expand_env(
    value: &mut Value,
    path: &mut Vec<String>,
    errors: &mut Vec<ConfigError>,
    lookup: Lookup<'_>,
) {
    match value {
        Value::String(s) => {
            if !s.contains('$') {
                return;
            }
            match expand_str(s, lookup) {
                Ok(Expanded::Whole(text)) => {
                    *value = serde_yaml_ng::from_str::<Value>(&text)
                        .ok()
                        .filter(|v| {
                            !matches!(v, Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_))
                        })
                        .unwrap_or(Value::String(text));
                }
                Ok(Expanded::Text(text)) => *value = Value::String(text),
                Err(msg) => errors.push(ConfigError::new(path.join("::"), msg)),
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                path.push(key_text(k));
                expand_env(v, path, errors, lookup);
                path.pop();
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                expand_env(v, path, errors, lookup);
                path.pop();
            }
        }
        _ => {}
    }
}

pub(crate) fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

#[derive(Debug, PartialEq)]
pub(crate) enum Expanded {
    /// The whole value was one reference.
    Whole(String),
    Text(String),
}

pub(crate) fn expand_str(s: &str, lookup: Lookup<'_>) -> Result<Expanded, String> {
    let mut out = String::new();
    let mut rest = s;
    let mut references = 0;
    let mut literal = false;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            literal = true;
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .ok_or_else(|| format!("unterminated reference in {s:?}: close it with '}}'"))?;
            let reference = &inner[..end];
            let Some(spec) = reference.strip_prefix("env:") else {
                return Err(format!(
                    "unsupported reference ${{{reference}}}: write ${{env:NAME}} or ${{env:NAME:-default}} (use $$ for a literal $)"
                ));
            };
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid environment variable name {name:?} in {s:?}"
                ));
            }
            match lookup(name).or_else(|| default.map(str::to_string)) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(format!(
                        "environment variable {name} is not set; set it, or give a default with ${{env:{name}:-value}}"
                    ));
                }
            }
            references += 1;
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    let whole = references == 1
        && !literal
        && s.starts_with("${")
        && s.ends_with('}')
        && s.matches("${").count() == 1;
    out.push_str(rest);
    Ok(if whole {
        Expanded::Whole(out)
    } else {
        Expanded::Text(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "HOST" => Some("127.0.0.1".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_references() {
        assert_eq!(
            expand_str("${env:PORT}", &env),
            Ok(Expanded::Whole("4317".into()))
        );
        assert_eq!(
            expand_str("${env:HOST}:${env:PORT}", &env),
            Ok(Expanded::Text("127.0.0.1:4317".into()))
        );
        assert_eq!(
            expand_str("${env:NOPE:-9999}", &env),
            Ok(Expanded::Whole("9999".into()))
        );
        assert_eq!(
            expand_str("cost $$5", &env),
            Ok(Expanded::Text("cost $5".into()))
        );
        assert_eq!(
            expand_str("$$${env:PORT}", &env),
            Ok(Expanded::Text("$4317".into()))
        );
    }

    #[test]
    fn rejects_unset_and_malformed() {
        assert!(
            expand_str("${env:NOPE}", &env)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(expand_str("${env:PORT", &env).is_err());
        assert!(
            expand_str("${file:/x}", &env)
                .unwrap_err()
                .contains("unsupported")
        );
    }

    #[test]
    fn whole_references_take_their_yaml_type() {
        let mut v: Value = serde_yaml_ng::from_str("a: ${env:PORT}\nb: x${env:PORT}\n").unwrap();
        let mut errors = Vec::new();
        expand_env(&mut v, &mut Vec::new(), &mut errors, &env);
        assert!(errors.is_empty());
        assert_eq!(v["a"], Value::Number(4317.into()));
        assert_eq!(v["b"], Value::String("x4317".into()));
    }
}
