//! The compiled form of statements and conditions: a typed tree whose paths are resolved,
//! whose functions are enum variants with checked arguments and whose regexes are compiled.
//! Running it never looks at statement text.

use std::cmp::Ordering;

use regex::Regex;

use crate::path::{Key, Path};
use crate::record::{AttributeMap, Record};
use crate::syntax::{CmpOp, MathOp};
use crate::value::Value;

/// Something that yields a value for a record.
#[derive(Debug, Clone)]
pub(crate) enum Getter {
    Literal(Value),
    Path(Path),
    Converter(Box<Converter>, Vec<Key>),
    List(Vec<Getter>),
    Map(Vec<(String, Getter)>),
    Math(MathOp, Box<Getter>, Box<Getter>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Lower,
    Upper,
    Snake,
    Camel,
}

/// The converters (functions that return a value and change nothing).
#[derive(Debug, Clone)]
pub(crate) enum Converter {
    IsMatch(Getter, Regex),
    Len(Getter),
    IsString(Getter),
    IsInt(Getter),
    IsDouble(Getter),
    IsBool(Getter),
    IsMap(Getter),
    IsList(Getter),
    Concat(Getter, Getter),
    Split(Getter, Getter),
    Int(Getter),
    Double(Getter),
    String(Getter),
    ConvertCase(Getter, Case),
    Substring(Getter, Getter, Getter),
    ToLowerCase(Getter),
    ToUpperCase(Getter),
    HasPrefix(Getter, Getter),
    HasSuffix(Getter, Getter),
    Trim(Getter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MergeStrategy {
    Insert,
    Update,
    Upsert,
}

/// The editors (functions that change the record).
#[derive(Debug, Clone)]
pub(crate) enum Editor {
    Set(Path, Getter),
    DeleteKey(Path, Getter),
    DeleteMatchingKeys(Path, Regex),
    KeepKeys(Path, Vec<String>),
    KeepMatchingKeys(Path, Regex),
    ReplacePattern(Path, Regex, Getter),
    ReplaceAllPatterns {
        target: Path,
        keys: bool,
        pattern: Regex,
        replacement: Getter,
    },
    TruncateAll(Path, usize),
    Limit(Path, usize, Vec<String>),
    MergeMaps(Path, Getter, MergeStrategy),
}

#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>),
    Compare(Getter, CmpOp, Getter),
    Value(Getter),
}

/// A failure while running a compiled statement on one record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(message.into()))
}

impl Getter {
    pub(crate) fn get(&self, record: &dyn Record) -> Result<Value, EvalError> {
        match self {
            Getter::Literal(v) => Ok(v.clone()),
            Getter::Path(p) => Ok(record.get(p)),
            Getter::Converter(c, keys) => Ok(c.call(record)?.index(keys)),
            Getter::List(items) => Ok(Value::List(
                items
                    .iter()
                    .map(|g| g.get(record))
                    .collect::<Result<_, _>>()?,
            )),
            Getter::Map(entries) => Ok(Value::Map(
                entries
                    .iter()
                    .map(|(k, g)| Ok((k.clone(), g.get(record)?)))
                    .collect::<Result<_, EvalError>>()?,
            )),
            Getter::Math(op, lhs, rhs) => arithmetic(*op, lhs.get(record)?, rhs.get(record)?),
        }
    }

    /// The value as a string, when it is one.
    fn string(&self, record: &dyn Record, what: &str) -> Result<Option<String>, EvalError> {
        match self.get(record)? {
            Value::Str(s) => Ok(Some(s)),
            Value::Nil => Ok(None),
            other => fail(format!(
                "{what} must be a string, got {}",
                other.type_name()
            )),
        }
    }

    fn int(&self, record: &dyn Record, what: &str) -> Result<i64, EvalError> {
        match self.get(record)? {
            Value::Int(i) => Ok(i),
            other => fail(format!("{what} must be an int, got {}", other.type_name())),
        }
    }
}

fn arithmetic(op: MathOp, lhs: Value, rhs: Value) -> Result<Value, EvalError> {
    match (lhs, rhs) {
        (Value::Int(a), Value::Int(b)) => {
            let r = match op {
                MathOp::Add => a.checked_add(b),
                MathOp::Sub => a.checked_sub(b),
                MathOp::Mul => a.checked_mul(b),
                MathOp::Div if b == 0 => return fail("division by zero"),
                MathOp::Div => a.checked_div(b),
            };
            r.map(Value::Int)
                .ok_or_else(|| EvalError("integer overflow".into()))
        }
        (Value::Double(a), Value::Double(b)) => Ok(Value::Double(match op {
            MathOp::Add => a + b,
            MathOp::Sub => a - b,
            MathOp::Mul => a * b,
            MathOp::Div if b == 0.0 => return fail("division by zero"),
            MathOp::Div => a / b,
        })),
        (a, b) => fail(format!(
            "arithmetic needs two ints or two doubles, got {} and {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

/// The string form `IsMatch` and `Concat` give scalars; `None` for what they skip.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::Str(_) | Value::Int(_) | Value::Double(_) | Value::Bool(_) | Value::Bytes(_) => {
            Some(v.to_string())
        }
        Value::Nil | Value::Map(_) | Value::List(_) => None,
    }
}

impl Converter {
    fn call(&self, r: &dyn Record) -> Result<Value, EvalError> {
        Ok(match self {
            Converter::IsMatch(target, re) => {
                Value::Bool(scalar_string(&target.get(r)?).is_some_and(|s| re.is_match(&s)))
            }
            Converter::Len(target) => match target.get(r)? {
                Value::Str(s) => Value::Int(s.len() as i64),
                Value::Bytes(b) => Value::Int(b.len() as i64),
                Value::Map(m) => Value::Int(m.len() as i64),
                Value::List(l) => Value::Int(l.len() as i64),
                other => return fail(format!("Len: cannot measure a {}", other.type_name())),
            },
            Converter::IsString(t) => Value::Bool(matches!(t.get(r)?, Value::Str(_))),
            Converter::IsInt(t) => Value::Bool(matches!(t.get(r)?, Value::Int(_))),
            Converter::IsDouble(t) => Value::Bool(matches!(t.get(r)?, Value::Double(_))),
            Converter::IsBool(t) => Value::Bool(matches!(t.get(r)?, Value::Bool(_))),
            Converter::IsMap(t) => Value::Bool(matches!(t.get(r)?, Value::Map(_))),
            Converter::IsList(t) => Value::Bool(matches!(t.get(r)?, Value::List(_))),
            Converter::Concat(values, delimiter) => {
                let delimiter = delimiter
                    .string(r, "Concat's delimiter")?
                    .unwrap_or_default();
                let Value::List(values) = values.get(r)? else {
                    return fail("Concat's values must be a list");
                };
                let parts: Vec<String> = values
                    .iter()
                    .filter_map(|v| match v {
                        // As the Collector prints a nil value.
                        Value::Nil => Some("<nil>".to_string()),
                        other => scalar_string(other),
                    })
                    .collect();
                Value::Str(parts.join(&delimiter))
            }
            Converter::Split(target, delimiter) => {
                let Some(s) = target.string(r, "Split's target")? else {
                    return Ok(Value::Nil);
                };
                let d = delimiter
                    .string(r, "Split's delimiter")?
                    .unwrap_or_default();
                Value::List(s.split(d.as_str()).map(|p| Value::Str(p.into())).collect())
            }
            Converter::Int(t) => match t.get(r)? {
                Value::Int(i) => Value::Int(i),
                Value::Double(d) if d.is_finite() => Value::Int(d.trunc() as i64),
                Value::Bool(b) => Value::Int(i64::from(b)),
                Value::Str(s) => s.trim().parse().map_or(Value::Nil, Value::Int),
                _ => Value::Nil,
            },
            Converter::Double(t) => match t.get(r)? {
                Value::Int(i) => Value::Double(i as f64),
                Value::Double(d) => Value::Double(d),
                Value::Bool(b) => Value::Double(if b { 1.0 } else { 0.0 }),
                Value::Str(s) => s.trim().parse().map_or(Value::Nil, Value::Double),
                _ => Value::Nil,
            },
            Converter::String(t) => match t.get(r)? {
                Value::Nil => Value::Nil,
                other => Value::Str(other.to_string()),
            },
            Converter::ConvertCase(t, case) => match t.string(r, "ConvertCase's target")? {
                None => Value::Nil,
                Some(s) => Value::Str(convert_case(&s, *case)),
            },
            Converter::ToLowerCase(t) => t
                .string(r, "ToLowerCase's target")?
                .map_or(Value::Nil, |s| Value::Str(s.to_lowercase())),
            Converter::ToUpperCase(t) => t
                .string(r, "ToUpperCase's target")?
                .map_or(Value::Nil, |s| Value::Str(s.to_uppercase())),
            Converter::Trim(t) => t
                .string(r, "Trim's target")?
                .map_or(Value::Nil, |s| Value::Str(s.trim().to_string())),
            Converter::HasPrefix(t, p) => {
                let p = p.string(r, "HasPrefix's prefix")?.unwrap_or_default();
                Value::Bool(
                    t.string(r, "HasPrefix's target")?
                        .is_some_and(|s| s.starts_with(&p)),
                )
            }
            Converter::HasSuffix(t, p) => {
                let p = p.string(r, "HasSuffix's suffix")?.unwrap_or_default();
                Value::Bool(
                    t.string(r, "HasSuffix's target")?
                        .is_some_and(|s| s.ends_with(&p)),
                )
            }
            Converter::Substring(t, start, length) => {
                let Some(s) = t.string(r, "Substring's target")? else {
                    return Ok(Value::Nil);
                };
                let start = start.int(r, "Substring's start")?;
                let length = length.int(r, "Substring's length")?;
                let range = usize::try_from(start)
                    .ok()
                    .zip(usize::try_from(length).ok())
                    .map(|(s, l)| s..s.saturating_add(l));
                match range.and_then(|range| s.get(range)) {
                    Some(part) => Value::Str(part.to_string()),
                    None => {
                        return fail(format!(
                            "Substring: start {start} and length {length} are outside a string of {} bytes",
                            s.len()
                        ));
                    }
                }
            }
        })
    }
}

/// `lower`, `upper`, `snake` (`HTTPRequest` -> `http_request`), `camel` (`a_b` -> `AB`).
fn convert_case(s: &str, case: Case) -> String {
    match case {
        Case::Lower => s.to_lowercase(),
        Case::Upper => s.to_uppercase(),
        Case::Snake => {
            let chars: Vec<char> = s.chars().collect();
            let mut out = String::with_capacity(s.len() + 4);
            for (i, &c) in chars.iter().enumerate() {
                if c.is_uppercase() {
                    let prev = i.checked_sub(1).and_then(|p| chars.get(p));
                    let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                    let boundary = prev.is_some_and(|p| {
                        p.is_lowercase() || p.is_ascii_digit() || (p.is_uppercase() && next_lower)
                    });
                    if boundary && !out.ends_with('_') {
                        out.push('_');
                    }
                    out.extend(c.to_lowercase());
                } else if c == ' ' || c == '-' || c == '.' {
                    out.push('_');
                } else {
                    out.push(c);
                }
            }
            out
        }
        Case::Camel => s
            .split(['_', ' ', '-', '.'])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut cs = w.chars();
                cs.next().map_or_else(String::new, |f| {
                    f.to_uppercase()
                        .chain(cs.flat_map(char::to_lowercase))
                        .collect()
                })
            })
            .collect(),
    }
}

impl Cond {
    pub(crate) fn eval(&self, r: &dyn Record) -> Result<bool, EvalError> {
        match self {
            Cond::Or(items) => {
                for c in items {
                    if c.eval(r)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Cond::And(items) => {
                for c in items {
                    if !c.eval(r)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Cond::Not(c) => Ok(!c.eval(r)?),
            Cond::Compare(lhs, op, rhs) => Ok(compare(&lhs.get(r)?, *op, &rhs.get(r)?)),
            Cond::Value(g) => match g.get(r)? {
                Value::Bool(b) => Ok(b),
                other => fail(format!(
                    "a condition needs a bool, got {}",
                    other.type_name()
                )),
            },
        }
    }
}

/// OTTL's comparison: numbers across int and double, strings and bytes by their order, bools
/// and nil by equality; values of different types are unequal and unordered.
pub(crate) fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    let order = match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Double(y)) => (*x as f64).partial_cmp(y),
        (Value::Double(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Some(x.cmp(y)),
        (Value::Nil, Value::Nil) => Some(Ordering::Equal),
        (x, y) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
            return (x == y) == (op == CmpOp::Eq);
        }
        _ => None,
    };
    match (order, op) {
        (None, CmpOp::Ne) => true,
        (None, _) => false,
        (Some(o), CmpOp::Eq) => o == Ordering::Equal,
        (Some(o), CmpOp::Ne) => o != Ordering::Equal,
        (Some(o), CmpOp::Lt) => o == Ordering::Less,
        (Some(o), CmpOp::Le) => o != Ordering::Greater,
        (Some(o), CmpOp::Gt) => o == Ordering::Greater,
        (Some(o), CmpOp::Ge) => o != Ordering::Less,
    }
}

fn with_map(
    r: &mut dyn Record,
    path: &Path,
    mut edit: impl FnMut(&mut dyn AttributeMap),
) -> Result<(), EvalError> {
    if r.edit_map(path, &mut edit) {
        Ok(())
    } else {
        fail(format!(
            "{:?} of {} is not a map",
            path.field,
            path.level.name()
        ))
    }
}

/// Cuts `s` to at most `limit` bytes without splitting a character.
fn truncate(s: &mut String, limit: usize) {
    if s.len() > limit {
        let mut end = limit;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

impl Editor {
    pub(crate) fn apply(&self, r: &mut dyn Record) -> Result<(), EvalError> {
        match self {
            Editor::Set(target, value) => {
                let v = value.get(r)?;
                // As the Collector: setting nil (say, an absent attribute) changes nothing.
                if v != Value::Nil {
                    r.set(target, v).map_err(EvalError)?;
                }
            }
            Editor::DeleteKey(target, key) => {
                let key = key.string(r, "delete_key's key")?.unwrap_or_default();
                with_map(r, target, |m| m.retain(&mut |k| k != key))?;
            }
            Editor::DeleteMatchingKeys(target, re) => {
                with_map(r, target, |m| m.retain(&mut |k| !re.is_match(k)))?;
            }
            Editor::KeepKeys(target, keys) => {
                with_map(r, target, |m| {
                    m.retain(&mut |k| keys.iter().any(|x| x == k))
                })?;
            }
            Editor::KeepMatchingKeys(target, re) => {
                with_map(r, target, |m| m.retain(&mut |k| re.is_match(k)))?;
            }
            Editor::ReplacePattern(target, re, replacement) => {
                let with = replacement
                    .string(r, "replace_pattern's replacement")?
                    .unwrap_or_default();
                if let Value::Str(s) = r.get(target) {
                    let replaced = re.replace_all(&s, with.as_str());
                    if replaced != s {
                        let v = Value::Str(replaced.into_owned());
                        r.set(target, v).map_err(EvalError)?;
                    }
                }
            }
            Editor::ReplaceAllPatterns {
                target,
                keys,
                pattern,
                replacement,
            } => {
                let with = replacement
                    .string(r, "replace_all_patterns's replacement")?
                    .unwrap_or_default();
                with_map(r, target, |map| {
                    if *keys {
                        map.edit_keys(&mut |k| {
                            if pattern.is_match(k) {
                                *k = pattern.replace_all(k, with.as_str()).into_owned();
                            }
                        });
                    } else {
                        map.edit_strings(&mut |_, v| {
                            if pattern.is_match(v) {
                                *v = pattern.replace_all(v, with.as_str()).into_owned();
                            }
                        });
                    }
                })?;
            }
            Editor::TruncateAll(target, limit) => {
                with_map(r, target, |m| {
                    m.edit_strings(&mut |_, v| truncate(v, *limit))
                })?;
            }
            Editor::Limit(target, limit, priority) => {
                with_map(r, target, |map| limit_map(map, *limit, priority))?;
            }
            Editor::MergeMaps(target, source, strategy) => {
                let Value::Map(source) = source.get(r)? else {
                    return Ok(());
                };
                with_map(r, target, |map| {
                    for (k, v) in &source {
                        let present = map.get(k).is_some();
                        let write = match strategy {
                            MergeStrategy::Insert => !present,
                            MergeStrategy::Update => present,
                            MergeStrategy::Upsert => true,
                        };
                        if write {
                            map.insert(k, v.clone());
                        }
                    }
                })?;
            }
        }
        Ok(())
    }
}

/// Keeps at most `limit` entries: the priority keys first, then the others in order.
fn limit_map(map: &mut dyn AttributeMap, limit: usize, priority: &[String]) {
    if map.len() > limit {
        let mut kept_priority = 0usize;
        map.retain(&mut |k| {
            let is_priority = priority.iter().any(|p| p == k);
            let keep = is_priority && kept_priority < limit;
            kept_priority += usize::from(keep);
            keep || !is_priority
        });
        let mut others = limit.saturating_sub(kept_priority);
        map.retain(&mut |k| {
            if priority.iter().any(|p| p == k) {
                return true;
            }
            let keep = others > 0;
            others = others.saturating_sub(1);
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_ottl() {
        use CmpOp::*;
        assert!(compare(&Value::Int(1), Eq, &Value::Double(1.0)));
        assert!(compare(&Value::Int(1), Lt, &Value::Double(1.5)));
        assert!(compare(
            &Value::Str("a".into()),
            Lt,
            &Value::Str("b".into())
        ));
        assert!(!compare(&Value::Str("1".into()), Eq, &Value::Int(1)));
        assert!(compare(&Value::Str("1".into()), Ne, &Value::Int(1)));
        assert!(!compare(&Value::Str("1".into()), Lt, &Value::Int(2)));
        assert!(compare(&Value::Nil, Eq, &Value::Nil));
        assert!(compare(&Value::Nil, Ne, &Value::Str("x".into())));
        assert!(!compare(&Value::Bool(true), Gt, &Value::Bool(false)));
    }

    #[test]
    fn cases_convert() {
        assert_eq!(
            convert_case("HTTPRequestCount", Case::Snake),
            "http_request_count"
        );
        assert_eq!(
            convert_case("jvmMemoryUsed", Case::Snake),
            "jvm_memory_used"
        );
        assert_eq!(
            convert_case("jvm_memory_used", Case::Camel),
            "JvmMemoryUsed"
        );
        assert_eq!(convert_case("Kafka", Case::Upper), "KAFKA");
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        let mut s = "héllo".to_string();
        truncate(&mut s, 2);
        assert_eq!(s, "h");
        let mut s = "hello".to_string();
        truncate(&mut s, 10);
        assert_eq!(s, "hello");
    }
}
