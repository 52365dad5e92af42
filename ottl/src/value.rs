//! The values OTTL expressions produce: the OTLP `AnyValue` shapes plus `nil`.

use std::fmt;

/// A value read from a record, written by an editor or produced by a converter.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// Ordered as OTLP keeps attributes.
    Map(Vec<(String, Value)>),
    List(Vec<Value>),
}

impl Value {
    /// The name OTTL's docs use for the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Map(_) => "map",
            Value::List(_) => "list",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value `keys` lead to (`["k"]` into maps, `[0]` into lists); nil where one is missing.
    pub fn index(mut self, keys: &[crate::Key]) -> Value {
        for key in keys {
            self = match (self, key) {
                (Value::Map(m), crate::Key::Str(k)) => m
                    .into_iter()
                    .find(|(name, _)| name == k)
                    .map_or(Value::Nil, |(_, v)| v),
                (Value::List(l), crate::Key::Index(i)) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| l.into_iter().nth(i))
                    .unwrap_or(Value::Nil),
                _ => Value::Nil,
            };
        }
        self
    }

    /// The value of key `key` when this is a map.
    pub fn map_get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// The string form `Concat` and `IsMatch` use: scalars as written, bytes as hex,
    /// maps and lists as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => b.iter().try_for_each(|x| write!(f, "{x:02x}")),
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k:?}:")?;
                    json(v, f)?;
                }
                f.write_str("}")
            }
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    json(v, f)?;
                }
                f.write_str("]")
            }
        }
    }
}

/// One element inside a map or list: strings quoted, nil as `null`.
fn json(v: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match v {
        Value::Nil => f.write_str("null"),
        Value::Str(s) => write!(f, "{s:?}"),
        Value::Bytes(_) => write!(f, "\"{v}\""),
        other => write!(f, "{other}"),
    }
}
