//! Typed attribute values, converted from the decoded Java object graph.
//!
//! JMX attributes arrive as boxed Java objects. [`Value`] keeps the shapes monitoring needs
//! (numbers, booleans, strings, `CompositeData`, arrays, `TabularData`) and names anything else
//! by its class. Conversion walks the graph with a depth limit and a node budget, because
//! back-references can make a small stream describe an exponentially large tree.
//!
//! [`Value::flatten_numeric`] turns composites into `Attr.key` numeric series, the way metric
//! pipelines want them.

use std::collections::BTreeMap;

use crate::javaser::model::{AnnotationCursor, ArrayData, FieldValue, Graph, Node, Prim, Ref};

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `java.lang.Long` (also `AtomicLong`).
    Long(i64),
    /// `java.lang.Integer`, `Short` and `Byte` (also `AtomicInteger`).
    Int(i32),
    Double(f64),
    Float(f32),
    Boolean(bool),
    /// `java.lang.String`, `Character`, and enum constants (by name).
    String(String),
    /// `CompositeData`: item name -> value, sorted by name (nested composites stay nested; see
    /// [`Value::flatten_numeric`]).
    Composite(BTreeMap<String, Value>),
    /// Any array.
    Array(Vec<Value>),
    /// `TabularData`: its rows, each a composite.
    Tabular(Vec<BTreeMap<String, Value>>),
    Null,
    /// An object of a class this crate does not interpret, by class name.
    Other(String),
}

impl Value {
    /// A numeric view: numbers as `f64`, booleans as 1/0; `None` for everything else.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Long(v) => Some(v as f64),
            Value::Int(v) => Some(f64::from(v)),
            Value::Double(v) => Some(v),
            Value::Float(v) => Some(f64::from(v)),
            Value::Boolean(v) => Some(if v { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// The integer value of `Long`/`Int`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Long(v) => Some(v),
            Value::Int(v) => Some(i64::from(v)),
            _ => None,
        }
    }

    /// The string value of `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// For a composite, the item `key` (`"used"` of `HeapMemoryUsage`); dots descend into nested
    /// composites (`"a.b"`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        let Value::Composite(map) = self else {
            return None;
        };
        if let Some(v) = map.get(key) {
            return Some(v);
        }
        let (head, tail) = key.split_once('.')?;
        map.get(head)?.get(tail)
    }

    /// Numeric series of this value under the attribute name `attr`: a number gives
    /// `(attr, n)`; a composite gives `(attr.key, n)` per numeric item, recursively. Arrays,
    /// tables, strings and nulls give nothing.
    pub fn flatten_numeric(&self, attr: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        self.flatten_into(attr, &mut out);
        out
    }

    fn flatten_into(&self, prefix: &str, out: &mut Vec<(String, f64)>) {
        match self {
            Value::Composite(map) => {
                for (k, v) in map {
                    v.flatten_into(&format!("{prefix}.{k}"), out);
                }
            }
            other => {
                if let Some(n) = other.as_f64() {
                    out.push((prefix.to_owned(), n));
                }
            }
        }
    }
}

/// Converts graph nodes to [`Value`]s with a depth limit and a total node budget.
pub(crate) struct Converter<'g> {
    graph: &'g Graph,
    budget: usize,
    max_depth: u32,
}

/// Defaults: generous for real MBeans, small enough that a hostile stream cannot blow up.
const VALUE_BUDGET: usize = 1_000_000;
const VALUE_DEPTH: u32 = 32;

impl<'g> Converter<'g> {
    pub(crate) fn new(graph: &'g Graph) -> Self {
        Converter {
            graph,
            budget: VALUE_BUDGET,
            max_depth: VALUE_DEPTH,
        }
    }

    pub(crate) fn value(&mut self, r: Option<Ref>) -> Value {
        self.convert(r, 0)
    }

    fn convert(&mut self, r: Option<Ref>, depth: u32) -> Value {
        let Some(r) = r else {
            return Value::Null;
        };
        if self.budget == 0 || depth > self.max_depth {
            return Value::Other("(nested too deep or too large)".into());
        }
        self.budget -= 1;
        let graph = self.graph;
        match graph.get(r) {
            None | Some(Node::Pending) => Value::Other("(unresolved reference)".into()),
            Some(Node::String(s)) => Value::String(s.clone()),
            Some(Node::Enum { constant, .. }) => Value::String(constant.clone()),
            Some(Node::Class { .. }) => Value::Other("java.lang.Class".into()),
            Some(Node::ClassDesc(_)) => Value::Other("java.io.ObjectStreamClass".into()),
            Some(Node::Array { data, .. }) => self.array(data, depth),
            Some(Node::Object(_)) => self.object(r, depth),
        }
    }

    fn array(&mut self, data: &ArrayData, depth: u32) -> Value {
        let take = self.budget.min(data.len());
        self.budget -= take;
        let items = match data {
            ArrayData::Byte(v) => v
                .iter()
                .take(take)
                .map(|&x| Value::Int(i32::from(x)))
                .collect(),
            ArrayData::Short(v) => v
                .iter()
                .take(take)
                .map(|&x| Value::Int(i32::from(x)))
                .collect(),
            ArrayData::Char(v) => v
                .iter()
                .take(take)
                .map(|&x| Value::String(String::from_utf16_lossy(&[x])))
                .collect(),
            ArrayData::Int(v) => v.iter().take(take).map(|&x| Value::Int(x)).collect(),
            ArrayData::Long(v) => v.iter().take(take).map(|&x| Value::Long(x)).collect(),
            ArrayData::Float(v) => v.iter().take(take).map(|&x| Value::Float(x)).collect(),
            ArrayData::Double(v) => v.iter().take(take).map(|&x| Value::Double(x)).collect(),
            ArrayData::Boolean(v) => v.iter().take(take).map(|&x| Value::Boolean(x)).collect(),
            ArrayData::Object(v) => {
                let refs: Vec<Option<Ref>> = v.iter().take(take).copied().collect();
                refs.into_iter()
                    .map(|e| self.convert(e, depth + 1))
                    .collect()
            }
        };
        Value::Array(items)
    }

    fn prim_field(&self, r: Ref, name: &str) -> Option<Prim> {
        match self.graph.field(r, name)? {
            FieldValue::Prim(p) => Some(*p),
            FieldValue::Object(_) => None,
        }
    }

    fn object(&mut self, r: Ref, depth: u32) -> Value {
        let graph = self.graph;
        let class = graph.class_name(r).unwrap_or("?").to_owned();
        let boxed = match (class.as_str(), self.prim_field(r, "value")) {
            ("java.lang.Long" | "java.util.concurrent.atomic.AtomicLong", Some(Prim::Long(v))) => {
                Some(Value::Long(v))
            }
            (
                "java.lang.Integer" | "java.util.concurrent.atomic.AtomicInteger",
                Some(Prim::Int(v)),
            ) => Some(Value::Int(v)),
            ("java.lang.Short", Some(Prim::Short(v))) => Some(Value::Int(i32::from(v))),
            ("java.lang.Byte", Some(Prim::Byte(v))) => Some(Value::Int(i32::from(v))),
            ("java.lang.Double", Some(Prim::Double(v))) => Some(Value::Double(v)),
            ("java.lang.Float", Some(Prim::Float(v))) => Some(Value::Float(v)),
            ("java.lang.Boolean", Some(Prim::Boolean(v))) => Some(Value::Boolean(v)),
            ("java.lang.Character", Some(Prim::Char(v))) => {
                Some(Value::String(String::from_utf16_lossy(&[v])))
            }
            _ => None,
        };
        if let Some(v) = boxed {
            return v;
        }
        if graph.is_instance_of(r, "javax.management.openmbean.CompositeDataSupport") {
            return match self.composite(r, depth) {
                Some(map) => Value::Composite(map),
                None => Value::Other(class),
            };
        }
        if graph.is_instance_of(r, "javax.management.openmbean.TabularDataSupport") {
            let rows = graph
                .field_ref(r, "dataMap")
                .map(|m| map_entries(graph, m))
                .unwrap_or_default();
            let mut out = Vec::with_capacity(rows.len().min(4096));
            for (_, row) in rows {
                if let Some(row) = row
                    && let Some(map) = self.composite(row, depth + 1)
                {
                    out.push(map);
                }
            }
            return Value::Tabular(out);
        }
        Value::Other(class)
    }

    fn composite(&mut self, r: Ref, depth: u32) -> Option<BTreeMap<String, Value>> {
        let graph = self.graph;
        if !graph.is_instance_of(r, "javax.management.openmbean.CompositeDataSupport") {
            return None;
        }
        let contents = graph.field_ref(r, "contents")?;
        let mut map = BTreeMap::new();
        for (k, v) in map_entries(graph, contents) {
            let Some(key) = k.and_then(|k| graph.string(k)) else {
                continue;
            };
            let value = self.convert(v, depth + 1);
            map.insert(key.to_owned(), value);
        }
        Some(map)
    }
}

/// The entries of a serialized `java.util.Map` (`TreeMap`, `HashMap`, `LinkedHashMap`,
/// `Hashtable`, and the unmodifiable/synchronized wrappers).
pub(crate) fn map_entries(graph: &Graph, map: Ref) -> Vec<(Option<Ref>, Option<Ref>)> {
    map_entries_at(graph, map, 0)
}

/// How many wrappers (`Collections.unmodifiableMap(...)`, ...) to look through; a hostile
/// stream can make a wrapper wrap itself.
const MAX_WRAPPERS: u32 = 8;

fn map_entries_at(graph: &Graph, map: Ref, depth: u32) -> Vec<(Option<Ref>, Option<Ref>)> {
    if depth >= MAX_WRAPPERS {
        return Vec::new();
    }
    let class = graph.class_name(map).unwrap_or_default();
    if class.starts_with("java.util.Collections$") {
        return graph
            .field_ref(map, "m")
            .map(|m| map_entries_at(graph, m, depth + 1))
            .unwrap_or_default();
    }
    for owner in [
        "java.util.TreeMap",
        "java.util.HashMap",
        "java.util.Hashtable",
    ] {
        if let Some(items) = graph.annotation_of(map, owner) {
            let objects: Vec<Option<Ref>> =
                AnnotationCursor::new(items).remaining_objects().collect();
            return objects
                .chunks_exact(2)
                .filter_map(|c| Some((*c.first()?, *c.get(1)?)))
                .collect();
        }
    }
    Vec::new()
}

/// The elements of a serialized `java.util.Collection` (`HashSet`, `ArrayList`, `TreeSet`, ...,
/// and the unmodifiable/synchronized wrappers).
pub(crate) fn collection_elements(graph: &Graph, collection: Ref) -> Vec<Option<Ref>> {
    collection_elements_at(graph, collection, 0)
}

fn collection_elements_at(graph: &Graph, collection: Ref, depth: u32) -> Vec<Option<Ref>> {
    if depth >= MAX_WRAPPERS {
        return Vec::new();
    }
    let class = graph.class_name(collection).unwrap_or_default();
    if class.starts_with("java.util.Collections$") {
        if let Some(inner) = graph.field_ref(collection, "c") {
            return collection_elements_at(graph, inner, depth + 1);
        }
        if let Some(e) = graph.field(collection, "element") {
            return match e {
                FieldValue::Object(r) => vec![*r],
                FieldValue::Prim(_) => Vec::new(),
            };
        }
        return Vec::new();
    }
    if let Some(Node::Array {
        data: ArrayData::Object(items),
        ..
    }) = graph.get(collection)
    {
        return items.clone();
    }
    if class == "java.util.Arrays$ArrayList" {
        return graph
            .field_ref(collection, "a")
            .map(|a| collection_elements_at(graph, a, depth + 1))
            .unwrap_or_default();
    }
    if let Some(items) = graph.annotation_of(collection, "java.util.TreeSet") {
        // TreeSet writes its comparator first.
        return AnnotationCursor::new(items)
            .remaining_objects()
            .skip(1)
            .collect();
    }
    for owner in [
        "java.util.HashSet",
        "java.util.ArrayList",
        "java.util.LinkedList",
        "java.util.ArrayDeque",
        "java.util.Vector",
        "java.util.concurrent.CopyOnWriteArrayList",
    ] {
        if let Some(items) = graph.annotation_of(collection, owner) {
            return AnnotationCursor::new(items).remaining_objects().collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_views_and_flattening() {
        let mut usage = BTreeMap::new();
        usage.insert("used".to_owned(), Value::Long(10));
        usage.insert("max".to_owned(), Value::Long(-1));
        usage.insert("label".to_owned(), Value::String("x".into()));
        let mut inner = BTreeMap::new();
        inner.insert("p99".to_owned(), Value::Double(1.5));
        usage.insert("latency".to_owned(), Value::Composite(inner));
        let v = Value::Composite(usage);
        assert_eq!(
            v.flatten_numeric("HeapMemoryUsage"),
            vec![
                ("HeapMemoryUsage.latency.p99".to_owned(), 1.5),
                ("HeapMemoryUsage.max".to_owned(), -1.0),
                ("HeapMemoryUsage.used".to_owned(), 10.0),
            ]
        );
        assert_eq!(v.get("latency.p99"), Some(&Value::Double(1.5)));
        assert_eq!(Value::Boolean(true).as_f64(), Some(1.0));
        assert_eq!(
            Value::Int(3).flatten_numeric("A"),
            vec![("A".to_owned(), 3.0)]
        );
        assert!(Value::Null.flatten_numeric("A").is_empty());
        assert!(Value::Float(f32::NAN).as_f64().unwrap().is_nan());
    }
}
