//! A hardened reader for Java serialization streams.
//!
//! The input is untrusted (anything listening on a port can answer), so the reader:
//! - never panics and never indexes unchecked (every access goes through `get`);
//! - sizes no allocation from a wire length before checking the bytes are actually there (each
//!   element needs at least one input byte) and against [`Limits`];
//! - bounds nesting depth and the number of handles;
//! - rejects unknown tags and malformed modified UTF-8;
//! - tells a stream that is merely incomplete ([`DecodeError::Truncated`], read more bytes and try
//!   again) from one that is wrong (any other error), because JRMP replies are not framed and the
//!   transport parses as bytes arrive.

use std::sync::Arc;

use super::model::{
    Annotation, ArrayData, ClassData, ClassDesc, FieldDesc, FieldValue, Graph, Node, Object, Prim,
    Ref,
};
use super::{BASE_WIRE_HANDLE, STREAM_MAGIC, STREAM_VERSION, mutf8, sc, tc};

/// Caps applied while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most bytes one stream may take (also bounds every single length field).
    pub max_bytes: usize,
    /// The deepest nesting of objects, descriptors and arrays.
    pub max_depth: u32,
    /// The most handles (objects, strings, descriptors, arrays) one stream may create.
    pub max_handles: usize,
    /// The most fields one class descriptor may declare.
    pub max_fields: usize,
    /// The most classes in one object's hierarchy.
    pub max_hierarchy: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 32 * 1024 * 1024,
            max_depth: 96,
            max_handles: 500_000,
            max_fields: 4096,
            max_hierarchy: 64,
        }
    }
}

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the stream did; more bytes may complete it.
    #[error("stream ended early")]
    Truncated,
    #[error("not a Java serialization stream (magic {0:#06x}, version {1})")]
    BadHeader(u16, u16),
    #[error("unknown or misplaced tag {tag:#04x} at offset {offset} (expected {expected})")]
    UnexpectedTag {
        tag: u8,
        offset: usize,
        expected: &'static str,
    },
    #[error("{what} of {value} exceeds the limit of {limit}")]
    LimitExceeded {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("nesting deeper than {0} levels")]
    TooDeep(u32),
    #[error("malformed stream at offset {offset}: {detail}")]
    Malformed { offset: usize, detail: String },
}

/// Reads one serialization stream from a byte slice into a [`Graph`].
///
/// Typical use: [`StreamReader::new`] (checks the header), then [`read_object`](Self::read_object)
/// and [`read_block_bytes`](Self::read_block_bytes) in the order the writer wrote them, then
/// [`finish`](Self::finish) for the graph.
#[derive(Debug)]
pub struct StreamReader<'a> {
    data: &'a [u8],
    pos: usize,
    limits: Limits,
    depth: u32,
    /// Wire handle (minus the base) -> arena index; cleared by `TC_RESET`.
    handles: Vec<Ref>,
    graph: Graph,
    /// Primitive data of the current top-level block not yet consumed.
    pending_block: Vec<u8>,
}

type Result<T> = std::result::Result<T, DecodeError>;

impl<'a> StreamReader<'a> {
    /// Starts reading a stream; checks magic and version.
    pub fn new(data: &'a [u8], limits: Limits) -> Result<Self> {
        if data.len() > limits.max_bytes {
            // Only what we read counts, but refusing to even look at more keeps things simple.
            return Err(DecodeError::LimitExceeded {
                what: "stream length",
                value: data.len() as u64,
                limit: limits.max_bytes as u64,
            });
        }
        let mut reader = StreamReader {
            data,
            pos: 0,
            limits,
            depth: 0,
            handles: Vec::new(),
            graph: Graph::default(),
            pending_block: Vec::new(),
        };
        let magic = reader.u16()?;
        let version = reader.u16()?;
        if magic != STREAM_MAGIC || version != STREAM_VERSION {
            return Err(DecodeError::BadHeader(magic, version));
        }
        Ok(reader)
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The graph decoded so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Ends reading and hands over the graph.
    pub fn finish(self) -> Graph {
        self.graph
    }

    // ---- raw input -------------------------------------------------------------------------

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self.data.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.take(N)?;
        slice.try_into().map_err(|_| DecodeError::Truncated)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn peek(&self) -> Result<u8> {
        self.data
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated)
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn malformed(&self, detail: impl Into<String>) -> DecodeError {
        DecodeError::Malformed {
            offset: self.pos,
            detail: detail.into(),
        }
    }

    /// Checks a wire length: above the limit is an error, beyond the input is "need more".
    fn check_len(&self, what: &'static str, count: u64, unit: u64) -> Result<usize> {
        let bytes = count.saturating_mul(unit.max(1));
        if bytes > self.limits.max_bytes as u64 {
            return Err(DecodeError::LimitExceeded {
                what,
                value: count,
                limit: self.limits.max_bytes as u64 / unit.max(1),
            });
        }
        if bytes > self.remaining() as u64 {
            return Err(DecodeError::Truncated);
        }
        usize::try_from(count).map_err(|_| self.malformed("length does not fit"))
    }

    fn utf(&mut self) -> Result<String> {
        let len = usize::from(self.u16()?);
        let start = self.pos;
        let bytes = self.take(len)?;
        mutf8::decode(bytes).map_err(|e| DecodeError::Malformed {
            offset: start + e.offset,
            detail: "invalid modified UTF-8".into(),
        })
    }

    fn long_utf(&mut self) -> Result<String> {
        let len = self.i64()?;
        if len < 0 {
            return Err(self.malformed(format!("negative string length {len}")));
        }
        let len = self.check_len("string length", len as u64, 1)?;
        let start = self.pos;
        let bytes = self.take(len)?;
        mutf8::decode(bytes).map_err(|e| DecodeError::Malformed {
            offset: start + e.offset,
            detail: "invalid modified UTF-8".into(),
        })
    }

    // ---- handles ---------------------------------------------------------------------------

    fn new_handle(&mut self, node: Node) -> Result<Ref> {
        if self.graph.nodes.len() >= self.limits.max_handles {
            return Err(DecodeError::LimitExceeded {
                what: "handle count",
                value: self.graph.nodes.len() as u64 + 1,
                limit: self.limits.max_handles as u64,
            });
        }
        let index =
            u32::try_from(self.graph.nodes.len()).map_err(|_| self.malformed("too many nodes"))?;
        let r = Ref(index);
        self.graph.nodes.push(node);
        self.handles.push(r);
        Ok(r)
    }

    fn set_node(&mut self, r: Ref, node: Node) {
        if let Some(slot) = self.graph.nodes.get_mut(r.0 as usize) {
            *slot = node;
        }
    }

    fn read_reference(&mut self) -> Result<Ref> {
        let offset = self.pos;
        let handle = self.i32()? as u32;
        handle
            .checked_sub(BASE_WIRE_HANDLE)
            .and_then(|i| self.handles.get(i as usize).copied())
            .ok_or_else(|| DecodeError::Malformed {
                offset,
                detail: format!("reference to unknown handle {handle:#x}"),
            })
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(DecodeError::TooDeep(self.limits.max_depth));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ---- top level -------------------------------------------------------------------------

    /// Reads `n` bytes of top-level block data (what `writeInt`, `writeLong`, ... produced),
    /// spanning block boundaries.
    pub fn read_block_bytes(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(256));
        while out.len() < n {
            if self.pending_block.is_empty() {
                let tag = self.u8()?;
                let len = match tag {
                    tc::BLOCKDATA => usize::from(self.u8()?),
                    tc::BLOCKDATALONG => self.block_long_len()?,
                    tc::RESET => {
                        self.handles.clear();
                        continue;
                    }
                    other => {
                        return Err(DecodeError::UnexpectedTag {
                            tag: other,
                            offset: self.pos - 1,
                            expected: "block data",
                        });
                    }
                };
                self.pending_block = self.take(len)?.to_vec();
                continue;
            }
            let take = self.pending_block.len().min(n - out.len());
            out.extend(self.pending_block.drain(..take));
        }
        Ok(out)
    }

    /// Whether any top-level primitive data is left unread in the current block.
    pub fn has_pending_block_data(&self) -> bool {
        !self.pending_block.is_empty()
    }

    fn block_long_len(&mut self) -> Result<usize> {
        let len = self.i32()?;
        if len < 0 {
            return Err(self.malformed(format!("negative block length {len}")));
        }
        self.check_len("block length", len as u64, 1)
    }

    /// Reads one object (what `writeObject` produced): `None` for null.
    pub fn read_object(&mut self) -> Result<Option<Ref>> {
        self.enter()?;
        let result = self.read_object_inner();
        self.leave();
        result
    }

    fn read_object_inner(&mut self) -> Result<Option<Ref>> {
        loop {
            let offset = self.pos;
            let tag = self.u8()?;
            return match tag {
                tc::NULL => Ok(None),
                tc::REFERENCE => self.read_reference().map(Some),
                tc::OBJECT => self.read_new_object().map(Some),
                tc::STRING => {
                    let r = self.new_handle(Node::Pending)?;
                    let s = self.utf()?;
                    self.set_node(r, Node::String(s));
                    Ok(Some(r))
                }
                tc::LONGSTRING => {
                    let r = self.new_handle(Node::Pending)?;
                    let s = self.long_utf()?;
                    self.set_node(r, Node::String(s));
                    Ok(Some(r))
                }
                tc::ARRAY => self.read_new_array().map(Some),
                tc::ENUM => self.read_new_enum().map(Some),
                tc::CLASS => {
                    let class = self
                        .read_class_desc()?
                        .ok_or_else(|| self.malformed("class object without descriptor"))?;
                    self.new_handle(Node::Class { class }).map(Some)
                }
                tc::CLASSDESC | tc::PROXYCLASSDESC => {
                    self.pos = offset;
                    self.read_class_desc()
                }
                tc::RESET => {
                    self.handles.clear();
                    continue;
                }
                tc::EXCEPTION => Err(DecodeError::Malformed {
                    offset,
                    detail: "the writer failed mid-stream (TC_EXCEPTION)".into(),
                }),
                other => Err(DecodeError::UnexpectedTag {
                    tag: other,
                    offset,
                    expected: "an object",
                }),
            };
        }
    }

    /// Reads custom data up to and including `TC_ENDBLOCKDATA`.
    fn read_annotation(&mut self) -> Result<Vec<Annotation>> {
        let mut items = Vec::new();
        loop {
            match self.peek()? {
                tc::ENDBLOCKDATA => {
                    self.pos += 1;
                    return Ok(items);
                }
                tc::BLOCKDATA => {
                    self.pos += 1;
                    let len = usize::from(self.u8()?);
                    items.push(Annotation::Block(self.take(len)?.to_vec()));
                }
                tc::BLOCKDATALONG => {
                    self.pos += 1;
                    let len = self.block_long_len()?;
                    items.push(Annotation::Block(self.take(len)?.to_vec()));
                }
                _ => items.push(Annotation::Object(self.read_object()?)),
            }
            if items.len() > self.limits.max_handles {
                return Err(DecodeError::LimitExceeded {
                    what: "annotation items",
                    value: items.len() as u64,
                    limit: self.limits.max_handles as u64,
                });
            }
        }
    }

    // ---- class descriptors -----------------------------------------------------------------

    /// Reads a class descriptor position: a new descriptor, a reference to one, or null.
    fn read_class_desc(&mut self) -> Result<Option<Ref>> {
        self.enter()?;
        let result = self.read_class_desc_inner();
        self.leave();
        result
    }

    fn read_class_desc_inner(&mut self) -> Result<Option<Ref>> {
        let offset = self.pos;
        match self.u8()? {
            tc::NULL => Ok(None),
            tc::REFERENCE => {
                let r = self.read_reference()?;
                match self.graph.get(r) {
                    Some(Node::ClassDesc(_)) => Ok(Some(r)),
                    _ => Err(DecodeError::Malformed {
                        offset,
                        detail: "reference to a non-descriptor where a class descriptor belongs"
                            .into(),
                    }),
                }
            }
            tc::CLASSDESC => {
                let name = self.utf()?;
                let serial_version_uid = self.i64()?;
                let r = self.new_handle(Node::Pending)?;
                let flags = self.u8()?;
                let count = usize::from(self.u16()?);
                if count > self.limits.max_fields {
                    return Err(DecodeError::LimitExceeded {
                        what: "field count",
                        value: count as u64,
                        limit: self.limits.max_fields as u64,
                    });
                }
                // Each field takes at least three bytes.
                self.check_len("field count", count as u64, 3)?;
                let mut fields = Vec::with_capacity(count);
                for _ in 0..count {
                    fields.push(self.read_field_desc()?);
                }
                let annotation = self.read_annotation()?;
                let super_class = self.read_class_desc()?;
                self.set_node(
                    r,
                    Node::ClassDesc(ClassDesc {
                        name,
                        serial_version_uid,
                        flags,
                        fields,
                        proxy_interfaces: Vec::new(),
                        annotation,
                        super_class,
                    }),
                );
                Ok(Some(r))
            }
            tc::PROXYCLASSDESC => {
                let r = self.new_handle(Node::Pending)?;
                let count = self.i32()?;
                if count < 0 {
                    return Err(self.malformed(format!("negative interface count {count}")));
                }
                let count = self.check_len("proxy interface count", count as u64, 2)?;
                if count > self.limits.max_fields {
                    return Err(DecodeError::LimitExceeded {
                        what: "proxy interface count",
                        value: count as u64,
                        limit: self.limits.max_fields as u64,
                    });
                }
                let mut interfaces = Vec::with_capacity(count);
                for _ in 0..count {
                    interfaces.push(self.utf()?);
                }
                let annotation = self.read_annotation()?;
                let super_class = self.read_class_desc()?;
                self.set_node(
                    r,
                    Node::ClassDesc(ClassDesc {
                        name: format!("$Proxy[{}]", interfaces.join(",")),
                        serial_version_uid: 0,
                        flags: sc::SERIALIZABLE,
                        fields: Vec::new(),
                        proxy_interfaces: interfaces,
                        annotation,
                        super_class,
                    }),
                );
                Ok(Some(r))
            }
            other => Err(DecodeError::UnexpectedTag {
                tag: other,
                offset,
                expected: "a class descriptor",
            }),
        }
    }

    fn read_field_desc(&mut self) -> Result<FieldDesc> {
        let offset = self.pos;
        let type_code = self.u8()?;
        let name = self.utf()?;
        let class_name = match type_code {
            b'B' | b'C' | b'D' | b'F' | b'I' | b'J' | b'S' | b'Z' => None,
            b'L' | b'[' => {
                let r = self
                    .read_object()?
                    .ok_or_else(|| self.malformed("null field type name"))?;
                let s = self
                    .graph
                    .string(r)
                    .ok_or_else(|| self.malformed("field type name is not a string"))?;
                Some(Arc::from(s))
            }
            other => {
                return Err(DecodeError::Malformed {
                    offset,
                    detail: format!("unknown field type code {other:#04x}"),
                });
            }
        };
        Ok(FieldDesc {
            type_code,
            name: Arc::from(name),
            class_name,
        })
    }

    /// The descriptors of `class` and its superclasses, top superclass first.
    fn hierarchy(&self, class: Ref) -> Result<Vec<Ref>> {
        let mut chain = Vec::new();
        let mut next = Some(class);
        while let Some(r) = next {
            if chain.len() >= self.limits.max_hierarchy {
                return Err(DecodeError::LimitExceeded {
                    what: "class hierarchy depth",
                    value: chain.len() as u64 + 1,
                    limit: self.limits.max_hierarchy as u64,
                });
            }
            let desc = self
                .graph
                .class_desc(r)
                .ok_or_else(|| self.malformed("class descriptor used before it was complete"))?;
            chain.push(r);
            next = desc.super_class;
        }
        chain.reverse();
        Ok(chain)
    }

    // ---- objects, arrays, enums ------------------------------------------------------------

    fn read_new_object(&mut self) -> Result<Ref> {
        let class = self
            .read_class_desc()?
            .ok_or_else(|| self.malformed("object with a null class descriptor"))?;
        let r = self.new_handle(Node::Pending)?;
        let chain = self.hierarchy(class)?;
        let mut data = Vec::with_capacity(chain.len());
        for class_ref in chain {
            // Only the field list is copied (names are shared `Arc`s), not the whole descriptor:
            // this runs for every object of every reply.
            let (flags, fields) = self
                .graph
                .class_desc(class_ref)
                .map(|d| (d.flags, d.fields.clone()))
                .ok_or_else(|| self.malformed("missing class descriptor"))?;
            data.push(self.read_class_data(class_ref, flags, &fields)?);
        }
        self.set_node(r, Node::Object(Object { class, data }));
        Ok(r)
    }

    fn read_class_data(
        &mut self,
        class: Ref,
        flags: u8,
        desc_fields: &[FieldDesc],
    ) -> Result<ClassData> {
        let mut fields = Vec::with_capacity(desc_fields.len());
        let mut annotation = Vec::new();
        if flags & sc::SERIALIZABLE != 0 {
            // Primitive values come first, then references, each group in descriptor order.
            for f in desc_fields.iter().filter(|f| f.class_name.is_none()) {
                let value = self.read_prim(f.type_code)?;
                fields.push((f.name.clone(), FieldValue::Prim(value)));
            }
            for f in desc_fields.iter().filter(|f| f.class_name.is_some()) {
                let value = self.read_object()?;
                fields.push((f.name.clone(), FieldValue::Object(value)));
            }
            if flags & sc::WRITE_METHOD != 0 {
                annotation = self.read_annotation()?;
            }
        } else if flags & sc::EXTERNALIZABLE != 0 {
            if flags & sc::BLOCK_DATA == 0 {
                let name = self
                    .graph
                    .class_desc(class)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                return Err(self.malformed(format!(
                    "{name} is externalizable in the old protocol version 1, which cannot be parsed"
                )));
            }
            annotation = self.read_annotation()?;
        }
        Ok(ClassData {
            class,
            fields,
            annotation,
        })
    }

    fn read_prim(&mut self, code: u8) -> Result<Prim> {
        Ok(match code {
            b'B' => Prim::Byte(self.u8()? as i8),
            b'C' => Prim::Char(self.u16()?),
            b'D' => Prim::Double(f64::from_be_bytes(self.array()?)),
            b'F' => Prim::Float(f32::from_be_bytes(self.array()?)),
            b'I' => Prim::Int(self.i32()?),
            b'J' => Prim::Long(self.i64()?),
            b'S' => Prim::Short(self.u16()? as i16),
            b'Z' => Prim::Boolean(self.u8()? != 0),
            other => {
                return Err(self.malformed(format!("unknown primitive type code {other:#04x}")));
            }
        })
    }

    fn read_new_array(&mut self) -> Result<Ref> {
        let class = self
            .read_class_desc()?
            .ok_or_else(|| self.malformed("array with a null class descriptor"))?;
        let r = self.new_handle(Node::Pending)?;
        let element = self
            .graph
            .class_desc(class)
            .and_then(|d| d.name.as_bytes().get(1).copied())
            .ok_or_else(|| self.malformed("array class name is not an array type"))?;
        let len = self.i32()?;
        if len < 0 {
            return Err(self.malformed(format!("negative array length {len}")));
        }
        let len = len as u64;
        let unit = match element {
            b'B' | b'Z' => 1,
            b'C' | b'S' => 2,
            b'I' | b'F' => 4,
            b'J' | b'D' => 8,
            b'L' | b'[' => 1,
            other => return Err(self.malformed(format!("unknown array element type {other:#04x}"))),
        };
        let n = self.check_len("array length", len, unit)?;
        let data = match element {
            b'B' => ArrayData::Byte(self.take(n)?.iter().map(|&b| b as i8).collect()),
            b'Z' => ArrayData::Boolean(self.take(n)?.iter().map(|&b| b != 0).collect()),
            b'C' => ArrayData::Char(self.prims(n, |s| s.u16())?),
            b'S' => ArrayData::Short(self.prims(n, |s| Ok(s.u16()? as i16))?),
            b'I' => ArrayData::Int(self.prims(n, |s| s.i32())?),
            b'F' => ArrayData::Float(self.prims(n, |s| Ok(f32::from_be_bytes(s.array()?)))?),
            b'J' => ArrayData::Long(self.prims(n, |s| s.i64())?),
            b'D' => ArrayData::Double(self.prims(n, |s| Ok(f64::from_be_bytes(s.array()?)))?),
            _ => {
                let mut items = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    items.push(self.read_object()?);
                }
                ArrayData::Object(items)
            }
        };
        self.set_node(r, Node::Array { class, data });
        Ok(r)
    }

    fn prims<T>(
        &mut self,
        n: usize,
        mut read: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(read(self)?);
        }
        Ok(out)
    }

    fn read_new_enum(&mut self) -> Result<Ref> {
        let class = self
            .read_class_desc()?
            .ok_or_else(|| self.malformed("enum with a null class descriptor"))?;
        let r = self.new_handle(Node::Pending)?;
        let name = self
            .read_object()?
            .ok_or_else(|| self.malformed("enum constant name is null"))?;
        let constant = self
            .graph
            .string(name)
            .ok_or_else(|| self.malformed("enum constant name is not a string"))?
            .to_owned();
        self.set_node(r, Node::Enum { class, constant });
        Ok(r)
    }
}

/// Decodes a whole stream holding a sequence of objects (no top-level block data), for tests
/// and the fuzz target. Returns the graph and the top-level objects.
pub fn read_all_objects(data: &[u8], limits: Limits) -> Result<(Graph, Vec<Option<Ref>>)> {
    let mut reader = StreamReader::new(data, limits)?;
    let mut roots = Vec::new();
    while reader.position() < data.len() {
        roots.push(reader.read_object()?);
    }
    Ok((reader.finish(), roots))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::javaser::model::ArrayData;

    const OBJECT_ARRAY: &str = "[Ljava.lang.Object;";

    fn header() -> Vec<u8> {
        vec![0xAC, 0xED, 0x00, 0x05]
    }

    fn utf(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// `TC_CLASSDESC name suid flags=SERIALIZABLE 0 fields, no annotation, no super`.
    fn array_desc(out: &mut Vec<u8>, name: &str) {
        out.push(tc::CLASSDESC);
        utf(out, name);
        out.extend_from_slice(&[0; 8]);
        out.push(sc::SERIALIZABLE);
        out.extend_from_slice(&[0, 0, tc::ENDBLOCKDATA, tc::NULL]);
    }

    fn handle(out: &mut Vec<u8>, n: u32) {
        out.push(tc::REFERENCE);
        out.extend_from_slice(&(BASE_WIRE_HANDLE + n).to_be_bytes());
    }

    #[test]
    fn rejects_bad_headers_and_unknown_tags() {
        assert!(matches!(
            StreamReader::new(&[0xCA, 0xFE, 0, 5], Limits::default()),
            Err(DecodeError::BadHeader(0xCAFE, 5))
        ));
        let mut s = header();
        s.push(0x60);
        let e = read_all_objects(&s, Limits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::UnexpectedTag {
                    tag: 0x60,
                    offset: 4,
                    ..
                }
            ),
            "{e}"
        );
        let mut s = header();
        handle(&mut s, 5);
        assert!(matches!(
            read_all_objects(&s, Limits::default()),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn back_references_and_reset() {
        let mut s = header();
        s.push(tc::STRING);
        utf(&mut s, "shared");
        handle(&mut s, 0);
        s.push(tc::RESET);
        s.push(tc::STRING);
        utf(&mut s, "after reset");
        handle(&mut s, 0); // handle 0 is now the new string
        let (graph, roots) = read_all_objects(&s, Limits::default()).unwrap();
        assert_eq!(roots[0], roots[1]);
        assert_eq!(graph.string(roots[3].unwrap()), Some("after reset"));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut s = header();
        s.push(tc::ARRAY);
        array_desc(&mut s, OBJECT_ARRAY);
        s.extend_from_slice(&1i32.to_be_bytes());
        for _ in 0..500 {
            s.push(tc::ARRAY);
            handle(&mut s, 0);
            s.extend_from_slice(&1i32.to_be_bytes());
        }
        s.push(tc::NULL);
        let e = read_all_objects(&s, Limits::default()).unwrap_err();
        assert_eq!(e, DecodeError::TooDeep(Limits::default().max_depth));
    }

    #[test]
    fn wire_lengths_are_checked_before_allocating() {
        let mut s = header();
        s.push(tc::ARRAY);
        array_desc(&mut s, "[J");
        s.extend_from_slice(&i32::MAX.to_be_bytes());
        let e = read_all_objects(&s, Limits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::LimitExceeded {
                    what: "array length",
                    ..
                }
            ),
            "{e}"
        );
        // Plausible length, bytes not there (yet): truncated, nothing allocated up front.
        let mut s = header();
        s.push(tc::ARRAY);
        array_desc(&mut s, "[J");
        s.extend_from_slice(&1000i32.to_be_bytes());
        s.extend_from_slice(&[0; 80]);
        assert_eq!(
            read_all_objects(&s, Limits::default()).unwrap_err(),
            DecodeError::Truncated
        );
        let mut s = header();
        s.push(tc::LONGSTRING);
        s.extend_from_slice(&i64::MAX.to_be_bytes());
        assert!(matches!(
            read_all_objects(&s, Limits::default()),
            Err(DecodeError::LimitExceeded { .. })
        ));
        let mut s = header();
        s.push(tc::ARRAY);
        array_desc(&mut s, "[J");
        s.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            read_all_objects(&s, Limits::default()),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn handle_count_is_capped() {
        let mut s = header();
        for _ in 0..100 {
            s.push(tc::STRING);
            utf(&mut s, "");
        }
        let limits = Limits {
            max_handles: 50,
            ..Limits::default()
        };
        assert!(matches!(
            read_all_objects(&s, limits),
            Err(DecodeError::LimitExceeded {
                what: "handle count",
                ..
            })
        ));
    }

    #[test]
    fn primitive_arrays_and_enums() {
        let mut s = header();
        s.push(tc::ARRAY);
        array_desc(&mut s, "[I");
        s.extend_from_slice(&2i32.to_be_bytes());
        s.extend_from_slice(&7i32.to_be_bytes());
        s.extend_from_slice(&(-1i32).to_be_bytes());
        s.push(tc::ENUM);
        s.push(tc::CLASSDESC);
        utf(&mut s, "java.util.concurrent.TimeUnit");
        s.extend_from_slice(&[0; 8]);
        s.push(sc::SERIALIZABLE | sc::ENUM);
        s.extend_from_slice(&[0, 0, tc::ENDBLOCKDATA]);
        s.push(tc::CLASSDESC);
        utf(&mut s, "java.lang.Enum");
        s.extend_from_slice(&[0; 8]);
        s.push(sc::SERIALIZABLE | sc::ENUM);
        s.extend_from_slice(&[0, 0, tc::ENDBLOCKDATA, tc::NULL]);
        s.push(tc::STRING);
        utf(&mut s, "SECONDS");
        let (graph, roots) = read_all_objects(&s, Limits::default()).unwrap();
        assert!(matches!(
            graph.get(roots[0].unwrap()),
            Some(Node::Array { data: ArrayData::Int(v), .. }) if v == &[7, -1]
        ));
        assert!(matches!(
            graph.get(roots[1].unwrap()),
            Some(Node::Enum { constant, .. }) if constant == "SECONDS"
        ));
        assert_eq!(
            graph.class_name(roots[1].unwrap()),
            Some("java.util.concurrent.TimeUnit")
        );
    }

    #[test]
    fn shared_references_cannot_blow_up_value_conversion() {
        // a0 = [null]; a(n+1) = [a(n), a(n)]: 2^40 leaves if expanded naively.
        let mut s = header();
        s.push(tc::ARRAY);
        array_desc(&mut s, OBJECT_ARRAY);
        s.extend_from_slice(&1i32.to_be_bytes());
        s.push(tc::NULL);
        // Handles: 0 = descriptor, 1 = a0, then one per array.
        for n in 0..40u32 {
            s.push(tc::ARRAY);
            handle(&mut s, 0);
            s.extend_from_slice(&2i32.to_be_bytes());
            handle(&mut s, n + 1);
            handle(&mut s, n + 1);
        }
        let (graph, roots) = read_all_objects(&s, Limits::default()).unwrap();
        let started = std::time::Instant::now();
        let value = crate::value::Converter::new(&graph).value(*roots.last().unwrap());
        assert!(matches!(value, crate::value::Value::Array(_)));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
