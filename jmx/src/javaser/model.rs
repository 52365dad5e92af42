//! The object graph a serialization stream decodes to.
//!
//! Objects live in an arena ([`Graph`]) and point at each other by index ([`Ref`]), so
//! back-references and cycles (an exception whose `cause` is itself) need no reference counting
//! and cannot leak. Nothing here interprets Java classes; that is [`crate::value`]'s job.

use std::sync::Arc;

/// Index of a node in a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ref(pub u32);

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

/// A field value: a primitive, or a reference (`None` is Java `null`).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Prim(Prim),
    Object(Option<Ref>),
}

/// One field declared by a class descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDesc {
    /// Type code: `B C D F I J S Z` for primitives, `L` or `[` for references.
    pub type_code: u8,
    /// Shared with every object's [`ClassData`] (no copy per object read).
    pub name: Arc<str>,
    /// The JVM type signature of reference fields (`Ljava/lang/String;`).
    pub class_name: Option<Arc<str>>,
}

/// A class descriptor (`TC_CLASSDESC` or `TC_PROXYCLASSDESC`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDesc {
    /// Binary class name (`java.lang.Long`, `[J`); for a proxy, `$Proxy` and its interfaces.
    pub name: String,
    pub serial_version_uid: i64,
    pub flags: u8,
    pub fields: Vec<FieldDesc>,
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
    pub fields: Vec<(Arc<str>, FieldValue)>,
    pub annotation: Vec<Annotation>,
}

/// An object: its class descriptor and one [`ClassData`] per serializable class, from the top
/// superclass down to the object's own class.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: Ref,
    pub data: Vec<ClassData>,
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
    ClassDesc(ClassDesc),
    Object(Object),
    String(String),
    Array {
        class: Ref,
        data: ArrayData,
    },
    Enum {
        class: Ref,
        constant: String,
    },
    Class {
        class: Ref,
    },
}

/// The decoded stream: an arena of nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
}

impl Graph {
    /// The node behind `r`, if it exists.
    pub fn get(&self, r: Ref) -> Option<&Node> {
        self.nodes.get(r.0 as usize)
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
    /// class up to its top superclass (so a subclass field shadows a superclass field).
    pub fn field(&self, r: Ref, name: &str) -> Option<&FieldValue> {
        let object = self.object(r)?;
        object
            .data
            .iter()
            .rev()
            .flat_map(|cd| cd.fields.iter())
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// The reference held by field `name`, if it is a non-null reference.
    pub fn field_ref(&self, r: Ref, name: &str) -> Option<Ref> {
        match self.field(r, name)? {
            FieldValue::Object(Some(target)) => Some(*target),
            _ => None,
        }
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
