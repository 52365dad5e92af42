//! A hardened reader for Java serialization streams.
//!
//! The input is untrusted (anything listening on a port can answer), so the reader:
//! - never panics and never indexes unchecked (every access goes through `get`);
//! - sizes no allocation from a wire length before the bytes are actually there and within
//!   [`Limits`];
//! - keeps work and memory proportional to the bytes received, by construction: every byte it
//!   allocates (nodes, strings, arrays, field values, custom data, indexes) is charged against a
//!   *decode budget* of `decode_factor` times the bytes read so far plus `decode_slack`, never
//!   more than `max_decoded`; back-references share the node they point to (never a copy);
//!   field lookups go through a per-class index;
//! - bounds nesting depth and the number of handles;
//! - rejects unknown tags and malformed modified UTF-8;
//! - reads either a complete byte slice ([`StreamReader::new`]; [`DecodeError::Truncated`] means
//!   "more bytes may complete it") or an unframed network reply incrementally
//!   ([`StreamReader::with_feed`]): when it runs out of bytes it asks a [`Feed`] for the next
//!   chunk, so what it has read is never parsed twice, and a cancellation flag stops it between
//!   any two reads or allocations.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::model::{
    Annotation, ArrayData, ClassData, ClassDesc, ClassInfo, FieldDesc, FieldPos, Graph, INDEX_FROM,
    Node, Object, Prim, Ref,
};
use super::{BASE_WIRE_HANDLE, STREAM_MAGIC, STREAM_VERSION, mutf8, sc, tc};

/// Caps applied while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most bytes one stream may take (also bounds every single length field).
    pub max_bytes: usize,
    /// The most bytes of memory the decoded stream may take, however large the stream.
    pub max_decoded: usize,
    /// Decoded memory allowed per byte read (on top of `decode_slack`).
    pub decode_factor: usize,
    /// Decoded memory allowed for any stream, however short.
    pub decode_slack: usize,
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
            max_bytes: 16 * 1024 * 1024,
            max_decoded: 16 * 1024 * 1024,
            decode_factor: 16,
            decode_slack: 256 * 1024,
            max_depth: 96,
            max_handles: 500_000,
            max_fields: 4096,
            max_hierarchy: 64,
        }
    }
}

impl Limits {
    /// The decode budget after reading `bytes` bytes: `decode_factor` x `bytes` +
    /// `decode_slack`, at most `max_decoded`.
    pub fn budget_for(&self, bytes: usize) -> usize {
        self.decode_factor
            .saturating_mul(bytes)
            .saturating_add(self.decode_slack)
            .min(self.max_decoded)
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
    /// Decoding would take more memory than the budget for the bytes received allows.
    #[error(
        "decoding needs more than {limit} bytes of memory for {read} bytes received (the decode budget: {factor} x the bytes received + {slack}, at most {max}); the reply is built to be expensive"
    )]
    BudgetExceeded {
        limit: u64,
        read: u64,
        factor: u64,
        slack: u64,
        max: u64,
    },
    #[error("decoding was cancelled (the call's deadline passed)")]
    Cancelled,
    #[error("nesting deeper than {0} levels")]
    TooDeep(u32),
    #[error("malformed stream at offset {offset}: {detail}")]
    Malformed { offset: usize, detail: String },
}

/// Where an incremental reader gets its next chunk of bytes: `None` when there will be no more
/// (the connection closed, or the call was abandoned).
pub type Feed = Box<dyn FnMut() -> Option<Vec<u8>> + Send>;

/// Reads one serialization stream into a [`Graph`].
///
/// Typical use: [`StreamReader::new`] (checks the header), then [`read_object`](Self::read_object)
/// and [`read_block_bytes`](Self::read_block_bytes) in the order the writer wrote them, then
/// [`finish`](Self::finish) for the graph.
pub struct StreamReader<'a> {
    /// Bytes received and not yet discarded; `buf[start..]` is unread. Borrowed when the whole
    /// stream is given (no copy), owned when a feed delivers it.
    buf: Cow<'a, [u8]>,
    start: usize,
    /// Bytes consumed since the stream began (the header included).
    pos: usize,
    feed: Option<Feed>,
    cancel: Option<Arc<AtomicBool>>,
    limits: Limits,
    depth: u32,
    /// Wire handle (minus the base) -> arena index; cleared by `TC_RESET`.
    handles: Vec<Ref>,
    graph: Graph,
    /// Primitive data of the current top-level block not yet consumed.
    pending_block: Vec<u8>,
    /// Bytes of memory the decoded graph takes, as charged against the budget.
    charged: usize,
}

impl std::fmt::Debug for StreamReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("pos", &self.pos)
            .field("charged", &self.charged)
            .field("incremental", &self.feed.is_some())
            .finish_non_exhaustive()
    }
}

type Result<T> = std::result::Result<T, DecodeError>;

/// Memory charged per node, on top of what the node owns.
const NODE_BYTES: usize = std::mem::size_of::<Node>() + std::mem::size_of::<Ref>();

impl<'a> StreamReader<'a> {
    /// Starts reading a complete stream held in `data`; checks magic and version.
    pub fn new(data: &'a [u8], limits: Limits) -> Result<Self> {
        if data.len() > limits.max_bytes {
            // Only what we read counts, but refusing to even look at more keeps things simple.
            return Err(DecodeError::LimitExceeded {
                what: "stream length",
                value: data.len() as u64,
                limit: limits.max_bytes as u64,
            });
        }
        Self::start(Cow::Borrowed(data), None, None, limits)
    }

    /// Starts reading a stream whose first bytes are `initial` and whose rest `feed` delivers
    /// chunk by chunk (blocking until one is there). `cancel`, once set, makes the reader stop
    /// with [`DecodeError::Cancelled`] at its next read or allocation.
    pub fn with_feed(
        initial: Vec<u8>,
        feed: Feed,
        cancel: Option<Arc<AtomicBool>>,
        limits: Limits,
    ) -> Result<Self> {
        Self::start(Cow::Owned(initial), Some(feed), cancel, limits)
    }

    fn start(
        buf: Cow<'a, [u8]>,
        feed: Option<Feed>,
        cancel: Option<Arc<AtomicBool>>,
        limits: Limits,
    ) -> Result<Self> {
        let mut reader = StreamReader {
            buf,
            start: 0,
            pos: 0,
            feed,
            cancel,
            limits,
            depth: 0,
            handles: Vec::new(),
            graph: Graph::default(),
            pending_block: Vec::new(),
            charged: 0,
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

    /// Bytes of memory charged for the graph so far.
    pub fn charged(&self) -> usize {
        self.charged
    }

    /// The limits this reader applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The graph decoded so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Ends reading and hands over the graph.
    pub fn finish(self) -> Graph {
        self.graph
    }

    /// Ends reading; hands over the graph and the bytes received after the stream's end.
    pub fn finish_with_rest(self) -> (Graph, Vec<u8>) {
        let rest = self.buf.get(self.start..).unwrap_or_default().to_vec();
        (self.graph, rest)
    }

    // ---- budget ----------------------------------------------------------------------------

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Charges `bytes` of decoded memory against the budget.
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.charged = self.charged.saturating_add(bytes);
        let budget = self.limits.budget_for(self.pos);
        if self.charged > budget {
            return Err(DecodeError::BudgetExceeded {
                limit: budget as u64,
                read: self.pos as u64,
                factor: self.limits.decode_factor as u64,
                slack: self.limits.decode_slack as u64,
                max: self.limits.max_decoded as u64,
            });
        }
        if self.cancelled() {
            return Err(DecodeError::Cancelled);
        }
        Ok(())
    }

    // ---- raw input -------------------------------------------------------------------------

    fn available(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// Makes sure `n` unread bytes are buffered, pulling chunks from the feed if there is one.
    #[inline]
    fn ensure(&mut self, n: usize) -> Result<()> {
        if self.available() >= n && self.pos.saturating_add(n) <= self.limits.max_bytes {
            return Ok(());
        }
        self.ensure_slow(n)
    }

    #[cold]
    fn ensure_slow(&mut self, n: usize) -> Result<()> {
        if self.pos.saturating_add(n) > self.limits.max_bytes {
            return Err(DecodeError::LimitExceeded {
                what: "reply size",
                value: self.pos.saturating_add(n) as u64,
                limit: self.limits.max_bytes as u64,
            });
        }
        while self.available() < n {
            if self.cancelled() {
                return Err(DecodeError::Cancelled);
            }
            let Some(feed) = self.feed.as_mut() else {
                return Err(DecodeError::Truncated);
            };
            let Some(chunk) = feed() else {
                self.feed = None;
                return Err(DecodeError::Truncated);
            };
            // Drop what was read once it is most of the buffer, so the buffer holds little more
            // than the unread part (at most one long item plus a chunk).
            let buf = self.buf.to_mut();
            if self.start > 0 && self.start >= buf.len() / 2 {
                buf.drain(..self.start);
                self.start = 0;
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(())
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        self.ensure(n)?;
        let begin = self.start;
        let end = begin.checked_add(n).ok_or(DecodeError::Truncated)?;
        self.start = end;
        self.pos += n;
        self.buf.get(begin..end).ok_or(DecodeError::Truncated)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.take(N)?;
        slice.try_into().map_err(|_| DecodeError::Truncated)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn peek(&mut self) -> Result<u8> {
        self.ensure(1)?;
        self.buf
            .get(self.start)
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

    fn malformed(&self, detail: impl Into<String>) -> DecodeError {
        DecodeError::Malformed {
            offset: self.pos,
            detail: detail.into(),
        }
    }

    /// Checks a wire length against the size cap; for a complete input also that the bytes are
    /// there ("need more" otherwise), so nothing is allocated for bytes that never came.
    fn check_len(&self, what: &'static str, count: u64, unit: u64) -> Result<usize> {
        let bytes = count.saturating_mul(unit.max(1));
        if bytes > self.limits.max_bytes as u64 {
            return Err(DecodeError::LimitExceeded {
                what,
                value: count,
                limit: self.limits.max_bytes as u64 / unit.max(1),
            });
        }
        if self.feed.is_none() && bytes > self.available() as u64 {
            return Err(DecodeError::Truncated);
        }
        usize::try_from(count).map_err(|_| self.malformed("length does not fit"))
    }

    fn decode_utf(&mut self, len: usize) -> Result<Arc<str>> {
        let start = self.pos;
        let bytes = self.take(len)?;
        let s = mutf8::decode_shared(bytes).map_err(|e| DecodeError::Malformed {
            offset: start + e.offset,
            detail: "invalid modified UTF-8".into(),
        })?;
        // Charged once the bytes are in: a long string is allowed what it brought.
        self.charge(len)?;
        Ok(s)
    }

    fn utf_string(&mut self) -> Result<String> {
        let len = usize::from(self.u16()?);
        let start = self.pos;
        let bytes = self.take(len)?;
        let s = mutf8::decode(bytes).map_err(|e| DecodeError::Malformed {
            offset: start + e.offset,
            detail: "invalid modified UTF-8".into(),
        })?;
        self.charge(len)?;
        Ok(s)
    }

    fn utf(&mut self) -> Result<Arc<str>> {
        let len = usize::from(self.u16()?);
        self.decode_utf(len)
    }

    fn long_utf(&mut self) -> Result<Arc<str>> {
        let len = self.i64()?;
        if len < 0 {
            return Err(self.malformed(format!("negative string length {len}")));
        }
        let len = self.check_len("string length", len as u64, 1)?;
        self.decode_utf(len)
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
        self.charge(NODE_BYTES)?;
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
                let block = self.take(len)?.to_vec();
                self.charge(len)?;
                self.pending_block = block;
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
                    // Put the tag back: descriptors read their own tag.
                    self.start = self.start.saturating_sub(1);
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
            let item = match self.peek()? {
                tc::ENDBLOCKDATA => {
                    self.u8()?;
                    return Ok(items);
                }
                tc::BLOCKDATA => {
                    self.u8()?;
                    let len = usize::from(self.u8()?);
                    let block = self.take(len)?.to_vec();
                    self.charge(len)?;
                    Annotation::Block(block)
                }
                tc::BLOCKDATALONG => {
                    self.u8()?;
                    let len = self.block_long_len()?;
                    let block = self.take(len)?.to_vec();
                    self.charge(len)?;
                    Annotation::Block(block)
                }
                _ => Annotation::Object(self.read_object()?),
            };
            // Each item took at least one byte; the budget bounds how many there can be.
            self.charge(std::mem::size_of::<Annotation>())?;
            items.push(item);
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
                let name = self.utf_string()?;
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
                self.charge(std::mem::size_of::<ClassDesc>() + name.len())?;
                let mut fields = Vec::with_capacity(count);
                let (mut prim_bytes, mut ref_fields) = (0usize, 0usize);
                for _ in 0..count {
                    let mut field = self.read_field_desc()?;
                    self.charge(std::mem::size_of::<FieldDesc>())?;
                    let slot = match Prim::size(field.type_code) {
                        Some(size) => {
                            let slot = prim_bytes;
                            prim_bytes += size;
                            slot
                        }
                        None => {
                            ref_fields += 1;
                            ref_fields - 1
                        }
                    };
                    field.slot = u32::try_from(slot).map_err(|_| self.malformed("field slot"))?;
                    fields.push(field);
                }
                let annotation = self.read_annotation()?;
                let super_class = self.read_class_desc()?;
                self.set_node(
                    r,
                    Node::ClassDesc(Box::new(ClassDesc {
                        name,
                        serial_version_uid,
                        flags,
                        fields,
                        prim_bytes,
                        ref_fields,
                        proxy_interfaces: Vec::new(),
                        annotation,
                        super_class,
                    })),
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
                    self.charge(std::mem::size_of::<String>())?;
                    interfaces.push(self.utf()?.to_string());
                }
                let annotation = self.read_annotation()?;
                let super_class = self.read_class_desc()?;
                let name = format!("$Proxy[{}]", interfaces.join(","));
                self.charge(name.len() + std::mem::size_of::<ClassDesc>())?;
                self.set_node(
                    r,
                    Node::ClassDesc(Box::new(ClassDesc {
                        name,
                        serial_version_uid: 0,
                        flags: sc::SERIALIZABLE,
                        fields: Vec::new(),
                        prim_bytes: 0,
                        ref_fields: 0,
                        proxy_interfaces: interfaces,
                        annotation,
                        super_class,
                    })),
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
                    .shared_string(r)
                    .ok_or_else(|| self.malformed("field type name is not a string"))?;
                Some(s.clone())
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
            name,
            class_name,
            slot: 0,
        })
    }

    /// Computes (and charges) the hierarchy and field index of `class` once; returns the
    /// hierarchy's length.
    fn class_info(&mut self, class: Ref) -> Result<usize> {
        if let Some(info) = self.graph.classes.get(&class) {
            return Ok(info.chain.len());
        }
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
        // Top superclass first, so a subclass's field replaces a superclass's of the same name.
        let total: usize = chain
            .iter()
            .filter_map(|&r| self.graph.class_desc(r))
            .map(|d| d.fields.len())
            .sum();
        let chain: Box<[Ref]> = chain.into_boxed_slice();
        let levels = chain.len();
        if total <= INDEX_FROM {
            self.charge(levels * std::mem::size_of::<Ref>())?;
            self.graph.classes.insert(
                class,
                ClassInfo {
                    chain,
                    fields: None,
                },
            );
            return Ok(levels);
        }
        self.charge(
            total.saturating_mul(std::mem::size_of::<(Arc<str>, FieldPos)>() + 16)
                + levels * std::mem::size_of::<Ref>(),
        )?;
        let mut fields: HashMap<Arc<str>, FieldPos> = HashMap::with_capacity(total);
        for (level, &r) in chain.iter().enumerate() {
            let level = u16::try_from(level).map_err(|_| self.malformed("hierarchy too deep"))?;
            let Some(desc) = self.graph.class_desc(r) else {
                continue;
            };
            for (i, f) in desc.fields.iter().enumerate() {
                let pos = FieldPos {
                    level,
                    field: u32::try_from(i).unwrap_or(u32::MAX),
                };
                match fields.entry(f.name.clone()) {
                    Entry::Occupied(mut e) if e.get().level != level => {
                        e.insert(pos);
                    }
                    Entry::Occupied(_) => {} // a duplicate name within one class: the first wins
                    Entry::Vacant(e) => {
                        e.insert(pos);
                    }
                }
            }
        }
        self.graph.classes.insert(
            class,
            ClassInfo {
                chain,
                fields: Some(fields),
            },
        );
        Ok(levels)
    }

    // ---- objects, arrays, enums ------------------------------------------------------------

    fn read_new_object(&mut self) -> Result<Ref> {
        let class = self
            .read_class_desc()?
            .ok_or_else(|| self.malformed("object with a null class descriptor"))?;
        let r = self.new_handle(Node::Pending)?;
        let levels = self.class_info(class)?;
        self.charge(levels * std::mem::size_of::<ClassData>())?;
        let mut data = Vec::with_capacity(levels);
        for level in 0..levels {
            let class_ref = self
                .graph
                .classes
                .get(&class)
                .and_then(|info| info.chain.get(level))
                .copied()
                .ok_or_else(|| self.malformed("class hierarchy changed while reading"))?;
            data.push(self.read_class_data(class_ref)?);
        }
        self.set_node(
            r,
            Node::Object(Object {
                class,
                data: data.into_boxed_slice(),
            }),
        );
        Ok(r)
    }

    fn read_class_data(&mut self, class: Ref) -> Result<ClassData> {
        let (flags, prim_bytes, ref_fields) = self
            .graph
            .class_desc(class)
            .map(|d| (d.flags, d.prim_bytes, d.ref_fields))
            .ok_or_else(|| self.malformed("missing class descriptor"))?;
        let mut prims: Box<[u8]> = Box::default();
        let mut refs: Vec<Option<Ref>> = Vec::new();
        let mut annotation = Vec::new();
        if flags & sc::SERIALIZABLE != 0 {
            // Primitive values come first (their bytes are kept as they are), then references,
            // each group in descriptor order.
            prims = self.take(prim_bytes)?.into();
            self.charge(prim_bytes)?;
            // Each reference takes at least one byte, which the budget counts as it arrives.
            refs.reserve_exact(ref_fields.min(4096));
            for _ in 0..ref_fields {
                self.charge(std::mem::size_of::<Option<Ref>>())?;
                refs.push(self.read_object()?);
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
            prims,
            refs: refs.into_boxed_slice(),
            annotation,
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
            b'L' | b'[' => 1,
            other => Prim::size(other)
                .ok_or_else(|| self.malformed(format!("unknown array element type {other:#04x}")))?
                as u64,
        };
        let n = self.check_len("array length", len, unit)?;
        let data = match element {
            b'B' => ArrayData::Byte(self.prims(n, 1, |b| b[0] as i8)?),
            b'Z' => ArrayData::Boolean(self.prims(n, 1, |b| b[0] != 0)?),
            b'C' => ArrayData::Char(self.prims(n, 2, |b| u16::from_be_bytes([b[0], b[1]]))?),
            b'S' => ArrayData::Short(self.prims(n, 2, |b| i16::from_be_bytes([b[0], b[1]]))?),
            b'I' => {
                ArrayData::Int(self.prims(n, 4, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))?)
            }
            b'F' => ArrayData::Float(
                self.prims(n, 4, |b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))?,
            ),
            b'J' => ArrayData::Long(self.prims(n, 8, |b| {
                i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            })?),
            b'D' => ArrayData::Double(self.prims(n, 8, |b| {
                f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            })?),
            _ => {
                // Element by element: each costs at least one byte received before its
                // eight bytes of memory are charged (a run of nulls cannot outgrow the budget).
                let mut items = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    self.charge(std::mem::size_of::<Option<Ref>>())?;
                    items.push(self.read_object()?);
                }
                ArrayData::Object(items)
            }
        };
        self.set_node(r, Node::Array { class, data });
        Ok(r)
    }

    /// Reads `n` primitives of `unit` bytes each, once their bytes are all there.
    fn prims<T>(&mut self, n: usize, unit: usize, decode: impl Fn(&[u8]) -> T) -> Result<Vec<T>> {
        let bytes = n.saturating_mul(unit);
        self.ensure(bytes)?;
        self.charge(n.saturating_mul(std::mem::size_of::<T>()))?;
        let raw = self.take(bytes)?;
        Ok(raw.chunks_exact(unit.max(1)).map(decode).collect())
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
            .shared_string(name)
            .ok_or_else(|| self.malformed("enum constant name is not a string"))?
            .clone();
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
            Some(Node::Enum { constant, .. }) if &**constant == "SECONDS"
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
