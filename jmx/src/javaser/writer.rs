//! Writes the few serialization shapes a JMX client sends.
//!
//! RMI reads arguments with `MarshalInputStream`, which after every class descriptor reads a
//! codebase annotation object. So every descriptor written here is followed by `TC_NULL` (no
//! codebase) and `TC_ENDBLOCKDATA`; leaving the `TC_NULL` out makes the server misread the rest
//! of the call.
//!
//! Primitive data (`write_i32`, ...) is buffered and emitted as block data before the next
//! object, as `ObjectOutputStream` does in block-data mode.

use super::{STREAM_MAGIC, STREAM_VERSION, mutf8, sc, tc};

/// `serialVersionUID` of `String[]`.
pub const STRING_ARRAY_SUID: i64 = -5921575005990323385;
/// `serialVersionUID` of `javax.management.ObjectName`.
pub const OBJECT_NAME_SUID: i64 = 1081892073854801359;

/// Builds one serialization stream.
#[derive(Debug, Clone)]
pub struct StreamWriter {
    out: Vec<u8>,
    block: Vec<u8>,
}

impl Default for StreamWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamWriter {
    /// Starts a stream (writes magic and version).
    pub fn new() -> Self {
        Self::with_prefix(&[])
    }

    /// Starts a stream after `prefix` (a JRMP message byte), so the whole message is built in
    /// one buffer and sent without a copy.
    pub fn with_prefix(prefix: &[u8]) -> Self {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(prefix);
        out.extend_from_slice(&STREAM_MAGIC.to_be_bytes());
        out.extend_from_slice(&STREAM_VERSION.to_be_bytes());
        StreamWriter {
            out,
            block: Vec::new(),
        }
    }

    /// Appends raw primitive bytes to the current block.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.block.extend_from_slice(bytes);
    }

    pub fn write_i16(&mut self, v: i16) {
        self.write_bytes(&v.to_be_bytes());
    }

    pub fn write_i32(&mut self, v: i32) {
        self.write_bytes(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.write_bytes(&v.to_be_bytes());
    }

    fn flush_block(&mut self) {
        if self.block.is_empty() {
            return;
        }
        for chunk in self.block.chunks(1024) {
            if let Ok(len) = u8::try_from(chunk.len()) {
                self.out.push(tc::BLOCKDATA);
                self.out.push(len);
            } else {
                self.out.push(tc::BLOCKDATALONG);
                self.out
                    .extend_from_slice(&(chunk.len() as i32).to_be_bytes());
            }
            self.out.extend_from_slice(chunk);
        }
        self.block.clear();
    }

    /// `writeObject(null)`.
    pub fn write_null(&mut self) {
        self.flush_block();
        self.out.push(tc::NULL);
    }

    fn raw_string(&mut self, s: &str) {
        let bytes = mutf8::encode(s);
        match u16::try_from(bytes.len()) {
            Ok(len) => {
                self.out.push(tc::STRING);
                self.out.extend_from_slice(&len.to_be_bytes());
            }
            Err(_) => {
                self.out.push(tc::LONGSTRING);
                self.out
                    .extend_from_slice(&(bytes.len() as i64).to_be_bytes());
            }
        }
        self.out.extend_from_slice(&bytes);
    }

    /// `writeObject(String)`.
    pub fn write_string(&mut self, s: &str) {
        self.flush_block();
        self.raw_string(s);
    }

    fn utf(&mut self, s: &str) {
        let bytes = mutf8::encode(s);
        // Class names are short; a longer one would be a bug in this crate, so truncate safely.
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out
            .extend_from_slice(bytes.get(..usize::from(len)).unwrap_or_default());
    }

    /// A class descriptor without fields and without a superclass, with RMI's codebase
    /// annotation.
    fn class_desc(&mut self, name: &str, suid: i64, flags: u8) {
        self.out.push(tc::CLASSDESC);
        self.utf(name);
        self.out.extend_from_slice(&suid.to_be_bytes());
        self.out.push(flags);
        self.out.extend_from_slice(&0u16.to_be_bytes()); // no fields
        self.out.push(tc::NULL); // codebase annotation: none
        self.out.push(tc::ENDBLOCKDATA);
        self.out.push(tc::NULL); // no serializable superclass
    }

    /// `writeObject(String[])`.
    pub fn write_string_array<S: AsRef<str>>(&mut self, items: &[S]) {
        self.flush_block();
        self.out.push(tc::ARRAY);
        self.class_desc("[Ljava.lang.String;", STRING_ARRAY_SUID, sc::SERIALIZABLE);
        self.out
            .extend_from_slice(&(items.len() as i32).to_be_bytes());
        for item in items {
            self.raw_string(item.as_ref());
        }
    }

    /// `writeObject(new ObjectName(name))`: the descriptor, then (as `ObjectName.writeObject`
    /// does) the name string as custom data.
    pub fn write_object_name(&mut self, name: &str) {
        self.flush_block();
        self.out.push(tc::OBJECT);
        self.class_desc(
            "javax.management.ObjectName",
            OBJECT_NAME_SUID,
            sc::SERIALIZABLE | sc::WRITE_METHOD,
        );
        self.raw_string(name);
        self.out.push(tc::ENDBLOCKDATA);
    }

    /// Ends the stream and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush_block();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{ArrayData, Node};
    use super::super::reader::{Limits, StreamReader, read_all_objects};
    use super::*;

    #[test]
    fn strings_and_arrays_round_trip_through_the_reader() {
        let mut w = StreamWriter::new();
        w.write_string("jmxrmi");
        w.write_null();
        w.write_string_array(&["user", "pässword"]);
        let bytes = w.finish();
        let (graph, roots) = read_all_objects(&bytes, Limits::default()).unwrap();
        assert_eq!(roots.len(), 3);
        assert_eq!(graph.string(roots[0].unwrap()), Some("jmxrmi"));
        assert_eq!(roots[1], None);
        let Some(Node::Array {
            class,
            data: ArrayData::Object(items),
        }) = graph.get(roots[2].unwrap())
        else {
            panic!("not an object array");
        };
        let desc = graph.class_desc(*class).unwrap();
        assert_eq!(desc.name, "[Ljava.lang.String;");
        assert_eq!(desc.serial_version_uid, STRING_ARRAY_SUID);
        // The RMI codebase annotation is there: one null object.
        assert_eq!(
            desc.annotation,
            vec![super::super::Annotation::Object(None)]
        );
        let names: Vec<_> = items
            .iter()
            .map(|r| graph.string(r.unwrap()).unwrap())
            .collect();
        assert_eq!(names, ["user", "pässword"]);
    }

    #[test]
    fn object_name_has_codebase_annotation_and_name_in_custom_data() {
        let mut w = StreamWriter::new();
        w.write_object_name("java.lang:type=Memory");
        let bytes = w.finish();
        let expected_prefix = [0xAC, 0xED, 0x00, 0x05, tc::OBJECT, tc::CLASSDESC, 0x00, 27];
        assert_eq!(&bytes[..8], &expected_prefix);
        let (graph, roots) = read_all_objects(&bytes, Limits::default()).unwrap();
        let r = roots[0].unwrap();
        assert_eq!(graph.class_name(r), Some("javax.management.ObjectName"));
        let ann = graph
            .annotation_of(r, "javax.management.ObjectName")
            .unwrap();
        let super::super::Annotation::Object(Some(s)) = ann[0] else {
            panic!()
        };
        assert_eq!(graph.string(s), Some("java.lang:type=Memory"));
        // Tail: name string then end of custom data.
        assert_eq!(*bytes.last().unwrap(), tc::ENDBLOCKDATA);
    }

    #[test]
    fn primitives_become_block_data_before_the_next_object() {
        let mut w = StreamWriter::new();
        w.write_i64(0);
        w.write_i32(2);
        w.write_string("x");
        let bytes = w.finish();
        assert_eq!(&bytes[4..6], &[tc::BLOCKDATA, 12]);
        let mut r = StreamReader::new(&bytes, Limits::default()).unwrap();
        let block = r.read_block_bytes(12).unwrap();
        assert_eq!(&block[8..], &[0, 0, 0, 2]);
        let s = r.read_object().unwrap().unwrap();
        assert_eq!(r.graph().string(s), Some("x"));
    }
}
