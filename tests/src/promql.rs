//! As much PromQL as the dashboard's queries need: the metric selectors with the label names
//! their matchers use, and the grouping labels. Strings, ranges, numbers and Grafana
//! variables are skipped; functions and aggregations are recognised by the `(` after them.
//!
//! It reads only queries we write; a query it cannot follow is a panic, i.e. a failing test.
#![allow(clippy::unwrap_used)]

#[derive(Debug, Default, PartialEq)]
pub struct Query {
    /// Metric selectors with the label names their matchers use.
    pub selectors: Vec<(String, Vec<String>)>,
    /// Labels of `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`.
    pub grouping: Vec<String>,
}

const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

pub fn parse_promql(expr: &str) -> Query {
    let chars: Vec<char> = expr.chars().collect();
    let mut q = Query::default();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let ident = |i: usize| {
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == ':')
        {
            j += 1;
        }
        (chars[i..j].iter().collect::<String>(), j)
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '$' {
            // A Grafana variable: $name, ${name}, $__rate_interval.
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                i = ident(i).1;
            }
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let (word, end) = ident(i);
            let next = skip_ws(end);
            i = end;
            if GROUPING.contains(&word.as_str()) {
                if chars.get(next) == Some(&'(') {
                    let close = chars[next..].iter().position(|c| *c == ')').unwrap() + next;
                    let list: String = chars[next + 1..close].iter().collect();
                    q.grouping.extend(
                        list.split(',')
                            .map(|l| l.trim().to_string())
                            .filter(|l| !l.is_empty()),
                    );
                    i = close + 1;
                }
            } else if KEYWORDS.contains(&word.as_str()) || chars.get(next) == Some(&'(') {
                // An operator keyword, or a function / aggregation call.
            } else if matches!(
                word.as_str(),
                "sum"
                    | "min"
                    | "max"
                    | "avg"
                    | "count"
                    | "group"
                    | "stddev"
                    | "stdvar"
                    | "topk"
                    | "bottomk"
                    | "quantile"
                    | "count_values"
            ) {
                // An aggregation followed by `by (...)` before its argument.
            } else {
                let mut labels = Vec::new();
                if chars.get(next) == Some(&'{') {
                    let close = chars[next..].iter().position(|c| *c == '}').unwrap() + next;
                    let body: String = chars[next + 1..close].iter().collect();
                    let mut rest = body.as_str();
                    while let Some(pos) = rest.find(['=', '!']) {
                        let name = rest[..pos].trim().trim_start_matches(',').trim();
                        labels.push(name.to_string());
                        // Skip the operator and the quoted value.
                        let after = &rest[pos..];
                        let open = after.find('"').unwrap();
                        let close_q = after[open + 1..].find('"').unwrap() + open + 1;
                        rest = &after[close_q + 1..];
                    }
                    i = close + 1;
                }
                q.selectors.push((word, labels));
            }
        } else {
            i += 1;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promql_subset_parses_the_dashboard_shapes() {
        let q = parse_promql(
            r#"sum by (instance, direction) (rate(kafka_network_io_bytes_total{topic="", job=~"$service"}[$__rate_interval])) / 1000 or vector(0)"#,
        );
        assert_eq!(
            q,
            Query {
                selectors: vec![(
                    "kafka_network_io_bytes_total".into(),
                    vec!["topic".into(), "job".into()]
                )],
                grouping: vec!["instance".into(), "direction".into()],
            }
        );
        let q = parse_promql("1 - (a_bytes{job=~\"x\"} / b_bytes)");
        assert_eq!(q.selectors.len(), 2);
    }
}
