//! One log entry while operators work on it, and the field paths (`body`, `attributes.x`,
//! `attributes["k8s.pod.name"]`, `resource.x`) they read and write, as the Collector's stanza
//! spells them.

use serde_json::{Map, Value};

/// What an entry carries before it becomes an OTLP log record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub body: Body,
    pub attributes: Map<String, Value>,
    pub resource: Map<String, Value>,
    /// Unix nanoseconds, when a timestamp was parsed.
    pub timestamp: Option<u64>,
    /// `(SeverityNumber, text as written)`, when a severity was parsed.
    pub severity: Option<(i32, String)>,
}

/// The body: text (or a map after `parse_to: body`), or raw bytes with `encoding: nop`.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Value(Value),
    Bytes(Vec<u8>),
}

impl Entry {
    pub fn text(body: String) -> Self {
        Self::new(Body::Value(Value::String(body)))
    }

    pub fn new(body: Body) -> Self {
        Self {
            body,
            attributes: Map::new(),
            resource: Map::new(),
            timestamp: None,
            severity: None,
        }
    }

    fn root(&self, root: Root) -> Option<&Value> {
        match (root, &self.body) {
            (Root::Body, Body::Value(v)) => Some(v),
            (Root::Body, Body::Bytes(_)) => None,
            _ => None,
        }
    }

    /// The value at `field`, if present.
    pub fn get(&self, field: &Field) -> Option<&Value> {
        let mut keys = field.keys.iter();
        let mut at = match field.root {
            Root::Body => self.root(Root::Body)?,
            Root::Attributes => self.attributes.get(keys.next()?)?,
            Root::Resource => self.resource.get(keys.next()?)?,
        };
        for key in keys {
            at = at.as_object()?.get(key)?;
        }
        Some(at)
    }

    /// Sets `field` to `value`, creating the maps on the way. Writing a key of a body that is
    /// not a map turns the body into a map (as the Collector does).
    pub fn set(&mut self, field: &Field, value: Value) {
        let (map, keys) = match field.root {
            Root::Body => {
                if field.keys.is_empty() {
                    self.body = Body::Value(value);
                    return;
                }
                if !matches!(&self.body, Body::Value(Value::Object(_))) {
                    self.body = Body::Value(Value::Object(Map::new()));
                }
                match &mut self.body {
                    Body::Value(Value::Object(m)) => (m, &field.keys[..]),
                    _ => return,
                }
            }
            Root::Attributes => match field.keys.is_empty() {
                // `attributes` itself: merge a map in.
                true => {
                    if let Value::Object(m) = value {
                        self.attributes.extend(m);
                    }
                    return;
                }
                false => (&mut self.attributes, &field.keys[..]),
            },
            Root::Resource => match field.keys.is_empty() {
                true => {
                    if let Value::Object(m) = value {
                        self.resource.extend(m);
                    }
                    return;
                }
                false => (&mut self.resource, &field.keys[..]),
            },
        };
        set_in(map, keys, value);
    }

    /// Removes and returns the value at `field`.
    pub fn remove(&mut self, field: &Field) -> Option<Value> {
        let (map, keys) = match field.root {
            Root::Body if field.keys.is_empty() => {
                let old = std::mem::replace(&mut self.body, Body::Value(Value::Null));
                return match old {
                    Body::Value(v) => Some(v),
                    Body::Bytes(b) => Some(Value::String(String::from_utf8_lossy(&b).into())),
                };
            }
            Root::Body => match &mut self.body {
                Body::Value(Value::Object(m)) => (m, &field.keys[..]),
                _ => return None,
            },
            Root::Attributes if field.keys.is_empty() => {
                return Some(Value::Object(std::mem::take(&mut self.attributes)));
            }
            Root::Attributes => (&mut self.attributes, &field.keys[..]),
            Root::Resource if field.keys.is_empty() => {
                return Some(Value::Object(std::mem::take(&mut self.resource)));
            }
            Root::Resource => (&mut self.resource, &field.keys[..]),
        };
        let (last, parents) = keys.split_last()?;
        let mut map = map;
        for key in parents {
            map = map.get_mut(key)?.as_object_mut()?;
        }
        map.remove(last)
    }
}

fn set_in(map: &mut Map<String, Value>, keys: &[String], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut map = map;
    for key in parents {
        let slot = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        map = next;
    }
    map.insert(last.clone(), value);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Body,
    Attributes,
    Resource,
}

/// A path into an entry: a root and the keys below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    root: Root,
    keys: Vec<String>,
}

impl Field {
    pub fn body() -> Self {
        Self {
            root: Root::Body,
            keys: Vec::new(),
        }
    }

    pub fn attributes() -> Self {
        Self {
            root: Root::Attributes,
            keys: Vec::new(),
        }
    }

    /// Reads `body`, `body.a.b`, `attributes.x`, `attributes["k8s.pod.name"]`, `resource.x`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hint =
            "write body, body.key, attributes.key, attributes[\"dotted.key\"] or resource.key";
        let (root, rest) = [
            ("body", Root::Body),
            ("attributes", Root::Attributes),
            ("resource", Root::Resource),
        ]
        .into_iter()
        .find_map(|(name, root)| text.strip_prefix(name).map(|rest| (root, rest)))
        .ok_or_else(|| format!("`{text}` is not a field; {hint}"))?;
        let mut keys = Vec::new();
        let mut rest = rest;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("[\"") {
                let end = after
                    .find("\"]")
                    .ok_or_else(|| format!("`{text}`: unclosed [\"...\"]; {hint}"))?;
                keys.push(after[..end].to_string());
                rest = &after[end + 2..];
            } else if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                if end == 0 {
                    return Err(format!("`{text}` has an empty key; {hint}"));
                }
                keys.push(after[..end].to_string());
                rest = &after[end..];
            } else {
                return Err(format!("`{text}` is not a field; {hint}"));
            }
        }
        Ok(Self { root, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_the_collector_spellings() {
        assert_eq!(Field::parse("body").unwrap(), Field::body());
        let f = Field::parse("attributes[\"k8s.pod.name\"]").unwrap();
        assert_eq!(f.keys, vec!["k8s.pod.name"]);
        let f = Field::parse("body.a.b").unwrap();
        assert_eq!(f.keys, vec!["a", "b"]);
        assert!(Field::parse("attribute.x").is_err());
        assert!(Field::parse("body.").is_err());
    }

    #[test]
    fn set_get_remove_round_trip() {
        let mut e = Entry::text("x".into());
        let f = Field::parse("attributes.a.b").unwrap();
        e.set(&f, Value::from(3));
        assert_eq!(e.get(&f), Some(&Value::from(3)));
        assert_eq!(e.remove(&f), Some(Value::from(3)));
        assert_eq!(e.get(&f), None);
        let b = Field::parse("body.msg").unwrap();
        e.set(&b, Value::from("hi"));
        assert_eq!(e.get(&b), Some(&Value::from("hi")));
    }
}
