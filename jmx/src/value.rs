//! Typed attribute values, converted from the decoded Java object graph.
//!
//! JMX attributes arrive as boxed Java objects. [`Value`] keeps the shapes monitoring needs
//! (numbers, booleans, strings, `CompositeData`, arrays, `TabularData`) and names anything else
//! by its class.
//!
//! Conversion costs what the stream cost, whatever its shape: strings, composites, arrays and
//! tables are shared (`Arc`), and each composite, table or array is converted once and then
//! shared wherever it is referenced again (a leaf, a string or a boxed number, costs O(1) each
//! time), so a million back-references to one object are a million reference counts, not a
//! million copies. Every byte a conversion allocates is charged against a budget
//! (what is left of the reply's decode budget), nesting is bounded, and a value that contains
//! itself (a cycle only a hand-made stream can hold) is detected and reported.
//!
//! [`Value::flatten_numeric`] turns composites into `Attr.key` numeric series, the way metric
//! pipelines want them.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::javaser::model::{
    AnnotationCursor, ArrayData, FieldValue, Graph, Node, Prim, Ref, RefMap, RefSet,
};

/// A `CompositeData`'s items: name -> value, sorted by name.
pub type CompositeMap = BTreeMap<String, Value>;

/// An attribute value. Cloning is cheap: everything large is shared.
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
    String(Arc<str>),
    /// `CompositeData` (nested composites stay nested; see [`Value::flatten_numeric`]).
    Composite(Arc<CompositeMap>),
    /// Any array.
    Array(Arc<[Value]>),
    /// `TabularData`: its rows, each a composite.
    Tabular(Arc<[Arc<CompositeMap>]>),
    Null,
    /// An object of a class this crate does not interpret, by class name.
    Other(Arc<str>),
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
        self.flatten_into(attr, &mut out, 0);
        out
    }

    fn flatten_into(&self, prefix: &str, out: &mut Vec<(String, f64)>, depth: u32) {
        match self {
            Value::Composite(map) if depth < VALUE_DEPTH => {
                for (k, v) in map.iter() {
                    v.flatten_into(&format!("{prefix}.{k}"), out, depth + 1);
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

/// Why a conversion gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConvertProblem {
    /// A value contains itself (the node that closes the cycle, by class).
    Cycle(String),
    /// The budget ran out (bytes it had).
    Budget(usize),
}

/// Converts graph nodes to [`Value`]s: each node once (then shared), with a depth limit, cycle
/// detection and a byte budget.
pub(crate) struct Converter<'g> {
    graph: &'g Graph,
    budget: usize,
    initial_budget: usize,
    max_depth: u32,
    memo: RefMap<Value>,
    in_progress: RefSet,
    problem: Option<ConvertProblem>,
    steps: u64,
}

/// Defaults: generous for real MBeans, small enough that a hostile stream cannot blow up.
const VALUE_BUDGET: usize = 16 * 1024 * 1024;
const VALUE_DEPTH: u32 = 32;
/// Memory charged per converted node (the value and its memo entry).
const NODE_COST: usize = 2 * std::mem::size_of::<Value>() + std::mem::size_of::<Ref>() + 16;

impl<'g> Converter<'g> {
    pub(crate) fn new(graph: &'g Graph) -> Self {
        Self::with_budget(graph, VALUE_BUDGET)
    }

    /// A converter that may allocate `budget` bytes in all.
    pub(crate) fn with_budget(graph: &'g Graph, budget: usize) -> Self {
        Converter {
            graph,
            budget,
            initial_budget: budget,
            max_depth: VALUE_DEPTH,
            memo: RefMap::default(),
            in_progress: RefSet::default(),
            problem: None,
            steps: 0,
        }
    }

    /// The first problem met, if any (the values converted meanwhile hold placeholders).
    pub(crate) fn problem(&self) -> Option<&ConvertProblem> {
        self.problem.as_ref()
    }

    /// Nodes converted (each at most once).
    #[cfg(test)]
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }

    pub(crate) fn value(&mut self, r: Option<Ref>) -> Value {
        self.convert(r, 0)
    }

    fn charge(&mut self, bytes: usize) -> bool {
        if self.problem.is_some() {
            return false;
        }
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                true
            }
            None => {
                self.budget = 0;
                self.problem = Some(ConvertProblem::Budget(self.initial_budget));
                false
            }
        }
    }

    fn convert(&mut self, r: Option<Ref>, depth: u32) -> Value {
        let Some(r) = r else {
            return Value::Null;
        };
        let graph = self.graph;
        // Leaves (strings, enums, boxed numbers) cost O(1) and share their text: converted
        // directly. Only what can hold other values is memoised and checked for cycles.
        match graph.get(r) {
            None | Some(Node::Pending) => return Value::Other("(unresolved reference)".into()),
            Some(Node::String(s)) => return Value::String(s.clone()),
            Some(Node::Enum { constant, .. }) => return Value::String(constant.clone()),
            Some(Node::Class { .. }) => return Value::Other("java.lang.Class".into()),
            Some(Node::ClassDesc(_)) => return Value::Other("java.io.ObjectStreamClass".into()),
            Some(Node::Object(_)) => {
                if let Some(v) = self.boxed(r) {
                    return v;
                }
            }
            Some(Node::Array { .. }) => {}
        }
        if let Some(v) = self.memo.get(&r) {
            return v.clone();
        }
        if self.in_progress.contains(&r) {
            if self.problem.is_none() {
                let class = self.graph.class_name(r).unwrap_or("?").to_owned();
                self.problem = Some(ConvertProblem::Cycle(class));
            }
            return Value::Other("(cycle)".into());
        }
        if depth > self.max_depth {
            return Value::Other("(nested too deep)".into());
        }
        if !self.charge(NODE_COST) {
            return Value::Other("(too large)".into());
        }
        self.steps += 1;
        self.in_progress.insert(r);
        let value = match graph.get(r) {
            Some(Node::Array { data, .. }) => self.array(data, depth),
            Some(Node::Object(_)) => self.object(r, depth),
            _ => Value::Other("(unresolved reference)".into()),
        };
        self.in_progress.remove(&r);
        self.memo.insert(r, value.clone());
        value
    }

    fn array(&mut self, data: &ArrayData, depth: u32) -> Value {
        if !self.charge(data.len().saturating_mul(std::mem::size_of::<Value>())) {
            return Value::Other("(too large)".into());
        }
        let items: Arc<[Value]> = match data {
            ArrayData::Byte(v) => v.iter().map(|&x| Value::Int(i32::from(x))).collect(),
            ArrayData::Short(v) => v.iter().map(|&x| Value::Int(i32::from(x))).collect(),
            ArrayData::Char(v) => v
                .iter()
                .map(|&x| Value::String(String::from_utf16_lossy(&[x]).into()))
                .collect(),
            ArrayData::Int(v) => v.iter().map(|&x| Value::Int(x)).collect(),
            ArrayData::Long(v) => v.iter().map(|&x| Value::Long(x)).collect(),
            ArrayData::Float(v) => v.iter().map(|&x| Value::Float(x)).collect(),
            ArrayData::Double(v) => v.iter().map(|&x| Value::Double(x)).collect(),
            ArrayData::Boolean(v) => v.iter().map(|&x| Value::Boolean(x)).collect(),
            ArrayData::Object(v) => {
                let mut out = Vec::with_capacity(v.len());
                for &e in v {
                    if self.problem.is_some() {
                        break;
                    }
                    out.push(self.convert(e, depth + 1));
                }
                out.into()
            }
        };
        Value::Array(items)
    }

    fn prim_field(&self, r: Ref, name: &str) -> Option<Prim> {
        match self.graph.field(r, name)? {
            FieldValue::Prim(p) => Some(p),
            FieldValue::Object(_) => None,
        }
    }

    /// The value of a boxed primitive (`Long`, `Double`, ...), if `r` is one.
    fn boxed(&self, r: Ref) -> Option<Value> {
        let class = self.graph.class_name(r)?;
        if !class.starts_with("java.") {
            return None;
        }
        match (class, self.prim_field(r, "value")?) {
            ("java.lang.Long" | "java.util.concurrent.atomic.AtomicLong", Prim::Long(v)) => {
                Some(Value::Long(v))
            }
            ("java.lang.Integer" | "java.util.concurrent.atomic.AtomicInteger", Prim::Int(v)) => {
                Some(Value::Int(v))
            }
            ("java.lang.Short", Prim::Short(v)) => Some(Value::Int(i32::from(v))),
            ("java.lang.Byte", Prim::Byte(v)) => Some(Value::Int(i32::from(v))),
            ("java.lang.Double", Prim::Double(v)) => Some(Value::Double(v)),
            ("java.lang.Float", Prim::Float(v)) => Some(Value::Float(v)),
            ("java.lang.Boolean", Prim::Boolean(v)) => Some(Value::Boolean(v)),
            ("java.lang.Character", Prim::Char(v)) => {
                Some(Value::String(String::from_utf16_lossy(&[v]).into()))
            }
            _ => None,
        }
    }

    fn object(&mut self, r: Ref, depth: u32) -> Value {
        let graph = self.graph;
        let class = graph.class_name(r).unwrap_or("?");
        if graph.is_instance_of(r, "javax.management.openmbean.CompositeDataSupport") {
            return match self.composite(r, depth) {
                Some(map) => Value::Composite(map),
                None => Value::Other(class.into()),
            };
        }
        if graph.is_instance_of(r, "javax.management.openmbean.TabularDataSupport") {
            let mut out = Vec::new();
            if let Some(m) = graph.field_ref(r, "dataMap") {
                for (_, row) in map_entries(graph, m) {
                    if self.problem.is_some() {
                        break;
                    }
                    if let Some(row) = row
                        && let Value::Composite(map) = self.convert(Some(row), depth + 1)
                    {
                        out.push(map);
                    }
                }
            }
            return Value::Tabular(out.into());
        }
        Value::Other(class.into())
    }

    fn composite(&mut self, r: Ref, depth: u32) -> Option<Arc<CompositeMap>> {
        let graph = self.graph;
        let contents = graph.field_ref(r, "contents")?;
        let mut map = BTreeMap::new();
        for (k, v) in map_entries(graph, contents) {
            if self.problem.is_some() {
                break;
            }
            let Some(key) = k.and_then(|k| graph.string(k)) else {
                continue;
            };
            if !self.charge(key.len() + 2 * std::mem::size_of::<Value>()) {
                break;
            }
            let value = self.convert(v, depth + 1);
            map.insert(key.to_owned(), value);
        }
        Some(Arc::new(map))
    }
}

/// The entries of a serialized `java.util.Map` (`TreeMap`, `HashMap`, `LinkedHashMap`,
/// `Hashtable`, and the unmodifiable/synchronized wrappers), in stream order, borrowed from the
/// graph (no copy).
pub(crate) fn map_entries<'g>(
    graph: &'g Graph,
    map: Ref,
) -> Box<dyn Iterator<Item = (Option<Ref>, Option<Ref>)> + 'g> {
    map_entries_at(graph, map, 0)
}

/// How many wrappers (`Collections.unmodifiableMap(...)`, ...) to look through; a hostile
/// stream can make a wrapper wrap itself.
const MAX_WRAPPERS: u32 = 8;

fn map_entries_at<'g>(
    graph: &'g Graph,
    map: Ref,
    depth: u32,
) -> Box<dyn Iterator<Item = (Option<Ref>, Option<Ref>)> + 'g> {
    if depth >= MAX_WRAPPERS {
        return Box::new(std::iter::empty());
    }
    let class = graph.class_name(map).unwrap_or_default();
    if class.starts_with("java.util.Collections$") {
        return match graph.field_ref(map, "m") {
            Some(m) => map_entries_at(graph, m, depth + 1),
            None => Box::new(std::iter::empty()),
        };
    }
    for owner in [
        "java.util.TreeMap",
        "java.util.HashMap",
        "java.util.Hashtable",
    ] {
        if let Some(items) = graph.annotation_of(map, owner) {
            let mut objects = AnnotationCursor::new(items).remaining_objects();
            return Box::new(std::iter::from_fn(move || {
                let k = objects.next()?;
                let v = objects.next()?;
                Some((k, v))
            }));
        }
    }
    Box::new(std::iter::empty())
}

/// The elements of a serialized `java.util.Collection` (`HashSet`, `ArrayList`, `TreeSet`, ...,
/// and the unmodifiable/synchronized wrappers), in stream order, borrowed from the graph (no
/// copy).
pub(crate) fn collection_elements<'g>(
    graph: &'g Graph,
    collection: Ref,
) -> Box<dyn Iterator<Item = Option<Ref>> + 'g> {
    collection_elements_at(graph, collection, 0)
}

fn collection_elements_at<'g>(
    graph: &'g Graph,
    collection: Ref,
    depth: u32,
) -> Box<dyn Iterator<Item = Option<Ref>> + 'g> {
    let none = || -> Box<dyn Iterator<Item = Option<Ref>> + 'g> { Box::new(std::iter::empty()) };
    if depth >= MAX_WRAPPERS {
        return none();
    }
    let class = graph.class_name(collection).unwrap_or_default();
    if class.starts_with("java.util.Collections$") {
        if let Some(inner) = graph.field_ref(collection, "c") {
            return collection_elements_at(graph, inner, depth + 1);
        }
        if let Some(e) = graph.field(collection, "element") {
            return match e {
                FieldValue::Object(r) => Box::new(std::iter::once(r)),
                FieldValue::Prim(_) => none(),
            };
        }
        return none();
    }
    if let Some(Node::Array {
        data: ArrayData::Object(items),
        ..
    }) = graph.get(collection)
    {
        return Box::new(items.iter().copied());
    }
    if class == "java.util.Arrays$ArrayList" {
        return match graph.field_ref(collection, "a") {
            Some(a) => collection_elements_at(graph, a, depth + 1),
            None => none(),
        };
    }
    if let Some(items) = graph.annotation_of(collection, "java.util.TreeSet") {
        // TreeSet writes its comparator first.
        return Box::new(AnnotationCursor::new(items).remaining_objects().skip(1));
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
            return Box::new(AnnotationCursor::new(items).remaining_objects());
        }
    }
    none()
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
        usage.insert("latency".to_owned(), Value::Composite(Arc::new(inner)));
        let v = Value::Composite(Arc::new(usage));
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
