//! `javax.management.ObjectName`: a domain and an ordered list of key properties, possibly a
//! pattern (`kafka.producer:type=producer-metrics,client-id=*` or `java.lang:type=GarbageCollector,*`).
//!
//! Parsing follows the `ObjectName` grammar (quoted values with `\"`, `\\`, `\*`, `\?`, `\n`
//! escapes; `*` and `?` wildcards in the domain and in values; a trailing `*` for a property list
//! pattern). Values are kept exactly as written, quotes included, the way Java's
//! `getKeyProperty` returns them. [`ObjectName::matches`] applies a pattern locally with Java's
//! rules, so callers can filter without a round trip.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

/// An MBean name or name pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectName {
    domain: String,
    properties: Vec<(String, String)>,
    property_list_pattern: bool,
}

/// Why a string is not a valid `ObjectName`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MBean name {input:?}: {reason}")]
pub struct ObjectNameError {
    pub input: String,
    pub reason: String,
}

impl ObjectName {
    /// Parses a name or pattern such as `java.lang:type=Memory`, in time linear in its length
    /// (names come from servers too: a name with 300 000 keys must not take minutes).
    pub fn parse(input: &str) -> Result<Self, ObjectNameError> {
        Self::parse_counting(input).0
    }

    /// [`parse`](Self::parse), also returning its work: characters visited plus key lookups.
    fn parse_counting(input: &str) -> (Result<Self, ObjectNameError>, u64) {
        let mut steps = 0u64;
        let result = Self::parse_inner(input, &mut steps);
        (result, steps)
    }

    fn parse_inner(input: &str, steps: &mut u64) -> Result<Self, ObjectNameError> {
        let err = |reason: &str| ObjectNameError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (domain, rest) = input.split_once(':').ok_or_else(|| {
            err("missing ':' between domain and key properties (e.g. java.lang:type=Memory)")
        })?;
        if domain.contains('\n') {
            return Err(err("domain contains a newline"));
        }
        let mut properties: Vec<(String, String)> = Vec::new();
        // Keys seen so far: one hash probe per key instead of a scan of all earlier keys.
        let mut keys: HashSet<String> = HashSet::new();
        let mut property_list_pattern = false;
        let visited = std::cell::Cell::new(0u64);
        let mut chars = rest
            .chars()
            .inspect(|_| visited.set(visited.get() + 1))
            .peekable();
        if rest.is_empty() {
            return Err(err(
                "no key properties (use domain:* for all names in a domain)",
            ));
        }
        loop {
            // One element: `*` or key=value.
            if chars.peek() == Some(&'*') {
                chars.next();
                if property_list_pattern {
                    return Err(err("'*' appears twice in the key property list"));
                }
                property_list_pattern = true;
            } else {
                let mut key = String::new();
                loop {
                    match chars.next() {
                        Some('=') => break,
                        Some(c @ (',' | ':' | '*' | '?' | '\n')) => {
                            return Err(err(&format!("invalid character {c:?} in a key")));
                        }
                        Some(c) => key.push(c),
                        None => return Err(err(&format!("key {key:?} has no '=value'"))),
                    }
                }
                if key.is_empty() {
                    return Err(err("empty key"));
                }
                let mut value = String::new();
                if chars.peek() == Some(&'"') {
                    value.push('"');
                    chars.next();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some(c @ ('"' | '\\' | '*' | '?' | 'n')) => {
                                    value.push('\\');
                                    value.push(c);
                                }
                                _ => return Err(err("invalid escape in a quoted value")),
                            },
                            Some('"') => {
                                value.push('"');
                                break;
                            }
                            Some('\n') => return Err(err("newline in a quoted value")),
                            Some(c) => value.push(c),
                            None => return Err(err("unterminated quoted value")),
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err(err("text after a closing quote"));
                    }
                } else {
                    while let Some(&c) = chars.peek() {
                        match c {
                            ',' => break,
                            '=' | ':' | '"' | '\n' => {
                                return Err(err(&format!(
                                    "invalid character {c:?} in the value of {key:?}; quote the value"
                                )));
                            }
                            _ => {
                                value.push(c);
                                chars.next();
                            }
                        }
                    }
                    if value.is_empty() {
                        return Err(err(&format!("empty value for key {key:?}")));
                    }
                }
                *steps += 1 + visited.take();
                if !keys.insert(key.clone()) {
                    return Err(err(&format!("key {key:?} appears twice")));
                }
                properties.push((key, value));
            }
            match chars.next() {
                None => break,
                Some(',') => {
                    if chars.peek().is_none() {
                        return Err(err("trailing ','"));
                    }
                }
                Some(c) => return Err(err(&format!("unexpected {c:?}"))),
            }
        }
        *steps += visited.take();
        Ok(ObjectName {
            domain: domain.to_owned(),
            properties,
            property_list_pattern,
        })
    }

    /// The pattern matching every MBean (`*:*`).
    pub fn wildcard() -> Self {
        ObjectName {
            domain: "*".into(),
            properties: Vec::new(),
            property_list_pattern: true,
        }
    }

    /// The domain (before the `:`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Key properties in the order they were written.
    pub fn properties(&self) -> &[(String, String)] {
        &self.properties
    }

    /// The value of `key` as written (quoted values keep their quotes, like Java).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` with quotes and escapes removed.
    pub fn get_unquoted(&self, key: &str) -> Option<String> {
        self.get(key).map(unquote)
    }

    /// Whether the list ends with `*` (other keys may be present).
    pub fn is_property_list_pattern(&self) -> bool {
        self.property_list_pattern
    }

    /// Whether the domain has wildcards.
    pub fn is_domain_pattern(&self) -> bool {
        self.domain.contains(['*', '?'])
    }

    /// Whether any value has wildcards (`client-id=*`).
    pub fn is_property_value_pattern(&self) -> bool {
        self.properties.iter().any(|(_, v)| value_is_pattern(v))
    }

    /// Whether this is a pattern of any kind (and so cannot name one MBean).
    pub fn is_pattern(&self) -> bool {
        self.property_list_pattern || self.is_domain_pattern() || self.is_property_value_pattern()
    }

    /// The canonical form: keys sorted, as Java's `getCanonicalName`.
    pub fn canonical(&self) -> String {
        let mut props: Vec<&(String, String)> = self.properties.iter().collect();
        props.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = format!("{}:", self.domain);
        write_props(&mut out, props.into_iter(), self.property_list_pattern);
        out
    }

    /// Whether `name` is matched by this pattern (or equals this name), with Java's rules:
    /// wildcards in the domain and values, and extra keys allowed only for a property list
    /// pattern.
    pub fn matches(&self, name: &ObjectName) -> bool {
        if !wildcard_match(&self.domain, &name.domain) {
            return false;
        }
        if !self.property_list_pattern && self.properties.len() != name.properties.len() {
            return false;
        }
        // Beyond a few keys, index the name's properties once: a scan per key made matching
        // quadratic (a 20 000-key name took seconds; found by the fuzzer).
        let index: Option<HashMap<&str, &str>> =
            (name.properties.len() > MATCH_SCAN_MAX).then(|| {
                name.properties
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect()
            });
        let value_of = |key: &str| match &index {
            Some(index) => index.get(key).copied(),
            None => name.get(key),
        };
        self.properties.iter().all(|(key, pattern)| {
            value_of(key).is_some_and(|value| {
                if value_is_pattern(pattern) {
                    wildcard_match(pattern, value)
                } else {
                    pattern == value
                }
            })
        })
    }
}

/// Names with at most this many keys (every real one) are matched by scanning their keys.
const MATCH_SCAN_MAX: usize = 8;

fn write_props<'a>(
    out: &mut String,
    props: impl Iterator<Item = &'a (String, String)>,
    pattern: bool,
) {
    let mut first = true;
    for (k, v) in props {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    if pattern {
        if !first {
            out.push(',');
        }
        out.push('*');
    }
}

fn value_is_pattern(value: &str) -> bool {
    if let Some(inner) = value.strip_prefix('"') {
        let mut escaped = false;
        for c in inner.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '*' | '?' => return true,
                _ => {}
            }
        }
        false
    } else {
        value.contains(['*', '?'])
    }
}

/// Removes the quotes and escapes of a quoted value; unquoted values are returned as is.
pub fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(e) => out.push(e),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Glob match with `*` (any run) and `?` (one character), iterative with backtracking to the
/// last star so it is linear-ish and never recursive.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&c| c == '*')
}

impl fmt::Display for ObjectName {
    /// The name with keys in their original order (what the MBean server reports).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = format!("{}:", self.domain);
        write_props(&mut out, self.properties.iter(), self.property_list_pattern);
        f.write_str(&out)
    }
}

impl FromStr for ObjectName {
    type Err = ObjectNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectName::parse(s)
    }
}

impl TryFrom<&str> for ObjectName {
    type Error = ObjectNameError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        ObjectName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(s: &str) -> ObjectName {
        ObjectName::parse(s).unwrap()
    }

    #[test]
    fn parses_domain_and_ordered_properties() {
        let n = on("kafka.producer:type=producer-metrics,client-id=p1");
        assert_eq!(n.domain(), "kafka.producer");
        assert_eq!(
            n.properties(),
            &[
                ("type".to_owned(), "producer-metrics".to_owned()),
                ("client-id".to_owned(), "p1".to_owned())
            ]
        );
        assert_eq!(
            n.to_string(),
            "kafka.producer:type=producer-metrics,client-id=p1"
        );
        assert_eq!(
            n.canonical(),
            "kafka.producer:client-id=p1,type=producer-metrics"
        );
        assert!(!n.is_pattern());
        assert_eq!(n.get("client-id"), Some("p1"));
    }

    #[test]
    fn quoted_values_keep_quotes_and_unquote() {
        let n = on(r#"d:name="a,b=c\"\*",type=x"#);
        assert_eq!(n.get("name"), Some(r#""a,b=c\"\*""#));
        assert_eq!(n.get_unquoted("name").as_deref(), Some(r#"a,b=c"*"#));
        assert!(!n.is_pattern(), "escaped star is not a wildcard");
        assert!(on(r#"d:name="a*""#).is_property_value_pattern());
    }

    #[test]
    fn patterns() {
        assert!(on("*:*").is_pattern());
        assert!(on("java.lang:type=GarbageCollector,*").is_property_list_pattern());
        assert!(on("kafka.producer:type=producer-metrics,client-id=*").is_property_value_pattern());
        assert_eq!(on("d:*").to_string(), "d:*");
        assert_eq!(on("d:b=1,a=2,*").canonical(), "d:a=2,b=1,*");
        assert_eq!(ObjectName::wildcard().to_string(), "*:*");
    }

    #[test]
    fn matching_follows_java_rules() {
        let name = on("kafka.producer:type=producer-topic-metrics,client-id=p1,topic=orders");
        assert!(on("kafka.producer:*").matches(&name));
        assert!(on("*:*").matches(&name));
        assert!(on("kafka.*:type=producer-topic-metrics,*").matches(&name));
        assert!(
            on("kafka.producer:type=producer-topic-metrics,client-id=*,topic=*").matches(&name)
        );
        assert!(on("kafka.producer:client-id=p?,*").matches(&name));
        assert!(
            !on("kafka.producer:type=producer-topic-metrics,client-id=*").matches(&name),
            "extra key without ,*"
        );
        assert!(!on("kafka.consumer:*").matches(&name));
        assert!(!on("kafka.producer:client-id=p2,*").matches(&name));
        assert!(
            on("kafka.producer:topic=orders,client-id=p1,type=producer-topic-metrics")
                .matches(&name),
            "order does not matter"
        );
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("?", ""));
    }

    /// Names of more than a few keys are matched through an index of their keys (the scan per
    /// key was quadratic; fuzz/findings/jmx_object_name/ holds the 19 000-key name that found
    /// it): the index gives the same answers as the scan.
    #[test]
    fn matching_many_keys_gives_the_answers_of_a_scan() {
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}=v{i}")).collect();
        let name = ObjectName::parse(&format!("d:{}", keys.join(","))).unwrap();
        let reversed: Vec<String> = keys.iter().rev().cloned().collect();
        assert!(
            ObjectName::parse(&format!("d:{}", reversed.join(",")))
                .unwrap()
                .matches(&name)
        );
        let mut changed = keys.clone();
        changed[39] = "k39=other".into();
        assert!(
            !ObjectName::parse(&format!("d:{}", changed.join(",")))
                .unwrap()
                .matches(&name)
        );
        assert!(
            ObjectName::parse("d:k7=v*,k30=v30,*")
                .unwrap()
                .matches(&name)
        );
        assert!(
            !ObjectName::parse("d:k7=v*,k99=v30,*")
                .unwrap()
                .matches(&name)
        );
        assert!(!ObjectName::parse("d:k7=v7").unwrap().matches(&name));
    }

    /// Duplicate keys were found by scanning every earlier key: 300 000 keys took minutes
    /// (quadratic: 20k keys 1 s, 80k 17 s). Now each key is one hash probe.
    #[test]
    fn parsing_is_linear_in_the_number_of_keys() {
        let keys = 300_000;
        let mut text = String::from("hostile:");
        for i in 0..keys {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("k{i}=v"));
        }
        let (name, steps) = ObjectName::parse_counting(&text);
        assert_eq!(name.unwrap().properties().len(), keys);
        // One step per character and one per key; the old scan needed keys^2/2 = 4.5e10.
        assert!(
            steps <= text.len() as u64 + keys as u64,
            "{steps} steps for {} bytes",
            text.len()
        );
        let dup = format!("{text},k299999=w");
        let (result, _) = ObjectName::parse_counting(&dup);
        assert!(result.unwrap_err().reason.contains("appears twice"));
    }

    #[test]
    fn rejects_bad_names_with_reasons() {
        for bad in [
            "nodomain",
            "d:",
            "d:type",
            "d:=x",
            "d:a=1,a=2",
            "d:a=1,",
            "d:a=\"x",
            "d:a=\"x\"y",
            "d:a=b=c",
            "d:*,*",
            "d:a=",
            "d:a*=1",
        ] {
            let e = ObjectName::parse(bad).unwrap_err();
            assert!(e.to_string().contains("invalid MBean name"), "{bad}: {e}");
        }
    }
}
