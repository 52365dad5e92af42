//! Java Object Serialization, the subset JMX over RMI needs.
//!
//! Everything an RMI peer sends is a Java serialization stream (`AC ED 00 05` ...). This module
//! has the two halves the client needs:
//!
//! - [`reader`]: a general, hardened parser that turns untrusted bytes into an object
//!   [`Graph`](model::Graph) (class descriptors, handles and back-references, block data, custom
//!   `writeObject` data, arrays, enums, exceptions). Every length is capped, every byte it
//!   allocates is charged against a budget proportional to the bytes received, back-references
//!   share their node, nesting depth is bounded, unknown tags are rejected, and no input can
//!   make it panic. It reads a complete buffer or, incrementally, a reply as it arrives.
//! - [`writer`]: the few shapes the client sends (null, strings, `String[]`, `ObjectName`),
//!   written the way RMI's `MarshalOutputStream` expects (a codebase annotation after every
//!   class descriptor).
//!
//! The grammar follows the "Object Serialization Stream Protocol" chapter of the Java Object
//! Serialization Specification.

pub mod model;
pub mod mutf8;
pub mod reader;
pub mod writer;

pub use model::{Annotation, ArrayData, ClassData, ClassDesc, FieldValue, Graph, Node, Prim, Ref};
pub use reader::{DecodeError, Limits, StreamReader};
pub use writer::StreamWriter;

/// Stream magic, the first two bytes of every serialization stream.
pub const STREAM_MAGIC: u16 = 0xACED;
/// The only stream version in use since JDK 1.2.
pub const STREAM_VERSION: u16 = 5;

/// Stream tags (`TC_*` in `java.io.ObjectStreamConstants`).
pub mod tc {
    pub const NULL: u8 = 0x70;
    pub const REFERENCE: u8 = 0x71;
    pub const CLASSDESC: u8 = 0x72;
    pub const OBJECT: u8 = 0x73;
    pub const STRING: u8 = 0x74;
    pub const ARRAY: u8 = 0x75;
    pub const CLASS: u8 = 0x76;
    pub const BLOCKDATA: u8 = 0x77;
    pub const ENDBLOCKDATA: u8 = 0x78;
    pub const RESET: u8 = 0x79;
    pub const BLOCKDATALONG: u8 = 0x7A;
    pub const EXCEPTION: u8 = 0x7B;
    pub const LONGSTRING: u8 = 0x7C;
    pub const PROXYCLASSDESC: u8 = 0x7D;
    pub const ENUM: u8 = 0x7E;
}

/// Class descriptor flags (`SC_*`).
pub mod sc {
    pub const WRITE_METHOD: u8 = 0x01;
    pub const SERIALIZABLE: u8 = 0x02;
    pub const EXTERNALIZABLE: u8 = 0x04;
    pub const BLOCK_DATA: u8 = 0x08;
    pub const ENUM: u8 = 0x10;
}

/// The first wire handle a stream assigns.
pub const BASE_WIRE_HANDLE: u32 = 0x7E_0000;
