//! The object graph a serialization stream decodes to.
//!
//! Objects live in an arena ([`Graph`]) and point at each other by index ([`Ref`]), so
//! back-references and cycles (an exception whose `cause` is itself) need no reference counting,
//! cannot leak, and are never copied: a million references to one object are a million `Ref`s
//! to one node. Nothing here interprets Java classes; that is [`crate::value`]'s job.
//!
//! The layout is compact on purpose, because the reader charges every byte it allocates against
//! a budget proportional to the bytes received (see [`super::reader::Limits`]): an object keeps
//! its primitive fields as the bytes the stream carried (one byte of memory per byte received)
//! and its reference fields as a slice of `Option<Ref>`; field names live once, in the class
//! descriptor. Field lookups go through a per-class index built once, so reading a field costs
//! one hash probe however many fields the class hierarchy declares.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Index of a node in a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ref(pub u32);

/// A hasher for [`Ref`] keys. Refs are arena indices the reader hands out in sequence (a peer
/// cannot choose them), so a multiplicative hash spreads them well, and costs a fraction of
/// SipHash on the hot path of every reply.
#[derive(Debug, Default, Clone, Copy)]
pub struct RefHasher(u64);

impl Hasher for RefHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }
}

/// A map keyed by [`Ref`].
pub type RefMap<V> = HashMap<Ref, V, BuildHasherDefault<RefHasher>>;
/// A set of [`Ref`]s.
pub type RefSet = HashSet<Ref, BuildHasherDefault<RefHasher>>;

/// A primitive field or array element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prim {
    Byte(i8),
    Char(u16),
    Double(f64),
    Float(f32),
    Int(i32),
    Long(i64),
    Short(i16),
    Boolean(bool),
}

impl Prim {
    /// Bytes a primitive of type `code` takes in a stream; `None` for a non-primitive code.
    pub fn size(code: u8) -> Option<usize> {
        Some(match code {
            b'B' | b'Z' => 1,
            b'C' | b'S' => 2,
            b'I' | b'F' => 4,
            b'J' | b'D' => 8,
            _ => return None,
        })
    }

    /// Decodes a primitive of type `code` from its big-endian bytes.
    pub fn decode(code: u8, bytes: &[u8]) -> Option<Prim> {
        fn arr<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
            b.get(..N)?.try_into().ok()
        }
        Some(match code {
            b'B' => Prim::Byte(i8::from_be_bytes(arr(bytes)?)),
            b'Z' => Prim::Boolean(arr::<1>(bytes)?[0] != 0),
            b'C' => Prim::Char(u16::from_be_bytes(arr(bytes)?)),
            b'S' => Prim::Short(i16::from_be_bytes(arr(bytes)?)),
            b'I' => Prim::Int(i32::from_be_bytes(arr(bytes)?)),
            b'F' => Prim::Float(f32::from_be_bytes(arr(bytes)?)),
            b'J' => Prim::Long(i64::from_be_bytes(arr(bytes)?)),
            b'D' => Prim::Double(f64::from_be_bytes(arr(bytes)?)),
            _ => return None,
        })
    }
}

/// A field value: a primitive, or a reference (`None` is Java `null`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue {
    Prim(Prim),
    Object(Option<Ref>),
}

/// One field declared by a class descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDesc {
    /// Type code: `B C D F I J S Z` for primitives, `L` or `[` for references.
    pub type_code: u8,
    pub name: Arc<str>,
    /// The JVM type signature of reference fields (`Ljava/lang/String;`).
    pub class_name: Option<Arc<str>>,
    /// Where an object keeps this field's value: the byte offset in [`ClassData::prims`] for a
    /// primitive, the index in [`ClassData::refs`] for a reference.
    pub slot: u32,
}

impl FieldDesc {
    /// Whether the field holds a primitive.
    pub fn is_prim(&self) -> bool {
        self.class_name.is_none()
    }
}

/// A class descriptor (`TC_CLASSDESC` or `TC_PROXYCLASSDESC`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDesc {
    /// Binary class name (`java.lang.Long`, `[J`); for a proxy, `$Proxy` and its interfaces.
    pub name: String,
    pub serial_version_uid: i64,
    pub flags: u8,
    pub fields: Vec<FieldDesc>,
    /// Bytes of primitive field values one object of this class carries.
    pub prim_bytes: usize,
    /// Number of reference fields.
    pub ref_fields: usize,
    /// Interfaces of a dynamic proxy class; empty otherwise.
    pub proxy_interfaces: Vec<String>,
    /// What `annotateClass` wrote (RMI: the codebase URL or null).
    pub annotation: Vec<Annotation>,
    pub super_class: Option<Ref>,
}

/// One item of custom data written by `writeObject`/`writeExternal` or `annotateClass`.
#[derive(Debug, Clone, PartialEq)]
pub enum Annotation {
    Block(Vec<u8>),
    Object(Option<Ref>),
}

/// The serialized state one class of an object's hierarchy contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassData {
    pub class: Ref,
    /// Primitive field values, as the stream carried them (big-endian, descriptor order).
    pub prims: Box<[u8]>,
    /// Reference field values, in descriptor order.
    pub refs: Box<[Option<Ref>]>,
    pub annotation: Vec<Annotation>,
}

/// An object: its class descriptor and one [`ClassData`] per serializable class, from the top
/// superclass down to the object's own class.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: Ref,
    pub data: Box<[ClassData]>,
}

/// The elements of an array.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    Byte(Vec<i8>),
    Char(Vec<u16>),
    Double(Vec<f64>),
    Float(Vec<f32>),
    Int(Vec<i32>),
    Long(Vec<i64>),
    Short(Vec<i16>),
    Boolean(Vec<bool>),
    Object(Vec<Option<Ref>>),
}

impl ArrayData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ArrayData::Byte(v) => v.len(),
            ArrayData::Char(v) => v.len(),
            ArrayData::Double(v) => v.len(),
            ArrayData::Float(v) => v.len(),
            ArrayData::Int(v) => v.len(),
            ArrayData::Long(v) => v.len(),
            ArrayData::Short(v) => v.len(),
            ArrayData::Boolean(v) => v.len(),
            ArrayData::Object(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A node of the graph: anything that gets a handle in the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A handle was assigned but its content is still being read (only seen mid-parse, or when
    /// a malicious stream refers to an object from inside itself in a place Java forbids).
    Pending,
    ClassDesc(Box<ClassDesc>),
    Object(Object),
    /// Shared: converting it to a value is a reference count, not a copy.
    String(Arc<str>),
    Array {
        class: Ref,
        data: ArrayData,
    },
    Enum {
        class: Ref,
        constant: Arc<str>,
    },
    Class {
        class: Ref,
    },
}

/// Where one field of an object's class hierarchy lives: the hierarchy level and the field's
/// position in that level's descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldPos {
    pub level: u16,
    pub field: u32,
}

/// What the reader computes once per class that has instances: its hierarchy (top superclass
/// first) and, for a hierarchy of more than [`INDEX_FROM`] fields, an index of every field name
/// (a subclass field shadows a superclass field). Smaller ones (every JDK class a JMX reply
/// holds) are searched directly: a few comparisons cost less than hashing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClassInfo {
    pub chain: Box<[Ref]>,
    pub fields: Option<HashMap<Arc<str>, FieldPos>>,
}

/// Hierarchies with more fields than this get a field index.
pub(crate) const INDEX_FROM: usize = 8;

/// The decoded stream: an arena of nodes.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// Per instantiated class (by its descriptor): hierarchy and field index.
    pub(crate) classes: RefMap<ClassInfo>,
    /// Field lookups made (a work counter for tests and benchmarks).
    probes: AtomicU64,
}

impl Clone for Graph {
    fn clone(&self) -> Self {
        Graph {
            nodes: self.nodes.clone(),
            classes: self.classes.clone(),
            probes: AtomicU64::new(self.probes()),
        }
    }
}

impl PartialEq for Graph {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
    }
}

impl Graph {
    /// The node behind `r`, if it exists.
    pub fn get(&self, r: Ref) -> Option<&Node> {
        self.nodes.get(r.0 as usize)
    }

    /// How many field lookups were made on this graph (each one hash probe).
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }

    /// The class descriptor behind `r`, if `r` is one.
    pub fn class_desc(&self, r: Ref) -> Option<&ClassDesc> {
        match self.get(r) {
            Some(Node::ClassDesc(d)) => Some(d),
            _ => None,
        }
    }

    /// The string behind `r`, if `r` is a string.
    pub fn string(&self, r: Ref) -> Option<&str> {
        match self.get(r) {
            Some(Node::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The shared string behind `r`, if `r` is a string.
    pub fn shared_string(&self, r: Ref) -> Option<&Arc<str>> {
        match self.get(r) {
            Some(Node::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The object behind `r`, if `r` is an object (not a string, array, ...).
    pub fn object(&self, r: Ref) -> Option<&Object> {
        match self.get(r) {
            Some(Node::Object(o)) => Some(o),
            _ => None,
        }
    }

    /// The class name of whatever `r` is an instance of (`java.lang.String` for strings).
    pub fn class_name(&self, r: Ref) -> Option<&str> {
        let class = match self.get(r)? {
            Node::Object(o) => o.class,
            Node::Array { class, .. } | Node::Enum { class, .. } => *class,
            Node::String(_) => return Some("java.lang.String"),
            Node::Class { .. } => return Some("java.lang.Class"),
            Node::ClassDesc(_) => return Some("java.io.ObjectStreamClass"),
            Node::Pending => return None,
        };
        self.class_desc(class).map(|d| d.name.as_str())
    }

    /// Whether the object behind `r` is an instance of `class` or of a subclass of it (as far as
    /// the stream's descriptors tell).
    pub fn is_instance_of(&self, r: Ref, class: &str) -> bool {
        self.object(r).is_some_and(|o| {
            o.data
                .iter()
                .any(|cd| self.class_desc(cd.class).is_some_and(|d| d.name == class))
        })
    }

    /// The value of field `name` in the object behind `r`, searching from the object's own
    /// class up to its top superclass (so a subclass field shadows a superclass field). One
    /// hash probe, however many fields the hierarchy has.
    pub fn field(&self, r: Ref, name: &str) -> Option<FieldValue> {
        let object = self.object(r)?;
        self.probes.fetch_add(1, Ordering::Relaxed);
        let (data, desc) = match &self.classes.get(&object.class)?.fields {
            Some(index) => {
                let pos = *index.get(name)?;
                let data = object.data.get(usize::from(pos.level))?;
                let desc = self
                    .class_desc(data.class)?
                    .fields
                    .get(pos.field as usize)?;
                (data, desc)
            }
            // At most `INDEX_FROM` fields in all: look from the object's own class up.
            None => object.data.iter().rev().find_map(|data| {
                let desc = self
                    .class_desc(data.class)?
                    .fields
                    .iter()
                    .find(|f| &*f.name == name)?;
                Some((data, desc))
            })?,
        };
        let slot = desc.slot as usize;
        if desc.is_prim() {
            let bytes = data.prims.get(slot..)?;
            Prim::decode(desc.type_code, bytes).map(FieldValue::Prim)
        } else {
            data.refs.get(slot).map(|r| FieldValue::Object(*r))
        }
    }

    /// The reference held by field `name`, if it is a non-null reference.
    pub fn field_ref(&self, r: Ref, name: &str) -> Option<Ref> {
        match self.field(r, name)? {
            FieldValue::Object(Some(target)) => Some(target),
            _ => None,
        }
    }

    /// Every field of one class level of an object, by name (for debugging and tests).
    pub fn fields_of<'g>(
        &'g self,
        data: &'g ClassData,
    ) -> impl Iterator<Item = (&'g str, FieldValue)> + 'g {
        self.class_desc(data.class)
            .map(|d| d.fields.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(move |f| {
                let slot = f.slot as usize;
                let value = if f.is_prim() {
                    FieldValue::Prim(Prim::decode(f.type_code, data.prims.get(slot..)?)?)
                } else {
                    FieldValue::Object(*data.refs.get(slot)?)
                };
                Some((&*f.name, value))
            })
    }

    /// The custom data the class named `class` wrote for the object behind `r`.
    pub fn annotation_of(&self, r: Ref, class: &str) -> Option<&[Annotation]> {
        let object = self.object(r)?;
        object
            .data
            .iter()
            .find(|cd| self.class_desc(cd.class).is_some_and(|d| d.name == class))
            .map(|cd| cd.annotation.as_slice())
    }
}

/// Reads primitives and objects, in order, out of custom `writeObject` data, the way the
/// matching `readObject` would: primitives come from consecutive block-data items, objects from
/// object items.
#[derive(Debug, Clone)]
pub struct AnnotationCursor<'a> {
    items: &'a [Annotation],
    item: usize,
    offset: usize,
}

impl<'a> AnnotationCursor<'a> {
    pub fn new(items: &'a [Annotation]) -> Self {
        AnnotationCursor {
            items,
            item: 0,
            offset: 0,
        }
    }

    /// Reads `n` bytes of primitive data, spanning block boundaries.
    pub fn bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(64));
        while out.len() < n {
            let Annotation::Block(block) = self.items.get(self.item)? else {
                return None;
            };
            let available = block.get(self.offset..)?;
            let take = available.len().min(n - out.len());
            out.extend_from_slice(available.get(..take)?);
            self.offset += take;
            if self.offset >= block.len() {
                self.item += 1;
                self.offset = 0;
            }
        }
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|a| a[0])
    }

    pub fn bool(&mut self) -> Option<bool> {
        self.u8().map(|b| b != 0)
    }

    pub fn i16(&mut self) -> Option<i16> {
        self.array().map(i16::from_be_bytes)
    }

    pub fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    pub fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_be_bytes)
    }

    pub fn f32(&mut self) -> Option<f32> {
        self.array().map(f32::from_be_bytes)
    }

    /// Reads a `writeUTF` string.
    pub fn utf(&mut self) -> Option<String> {
        let len = u16::from_be_bytes(self.array()?);
        let bytes = self.bytes(usize::from(len))?;
        super::mutf8::decode(&bytes).ok()
    }

    /// Reads the next object item; skips nothing, so any unread primitive data is an error.
    pub fn object(&mut self) -> Option<Option<Ref>> {
        // An exhausted block followed by an object is fine; a partly read block is not.
        if self.offset != 0 {
            return None;
        }
        match self.items.get(self.item)? {
            Annotation::Object(r) => {
                self.item += 1;
                Some(*r)
            }
            Annotation::Block(b) if b.is_empty() => {
                self.item += 1;
                self.object()
            }
            Annotation::Block(_) => None,
        }
    }

    /// All object items left, ignoring primitive data (for collections, whose elements are the
    /// objects of their `writeObject` data).
    pub fn remaining_objects(&self) -> impl Iterator<Item = Option<Ref>> + 'a {
        let start = if self.offset == 0 {
            self.item
        } else {
            self.item + 1
        };
        self.items
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter_map(|a| match a {
                Annotation::Object(r) => Some(*r),
                Annotation::Block(_) => None,
            })
    }
}
