//! A hostile JMX agent: a small JRMP server that answers the registry lookup, `newClient`,
//! `queryNames`, `getAttributes` and `close` the way a JDK agent does, and can switch at any
//! time to replies that are well-formed Java serialization built to be expensive (issue #14).
//!
//! [`Ser`] writes the serialization shapes it needs (class descriptors with fields and
//! superclasses, objects, strings, arrays, back-references) and counts handles the way a reader
//! assigns them, so the payload builders ([`payload`]) can refer back to what they wrote. The
//! builders are public so the JMX crate's unit tests decode exactly what the server sends.
//!
//! [`HostileJmx::start`] serves on a free 127.0.0.1 port from plain threads (one per
//! connection, each bounded by read timeouts) until dropped; [`HostileJmx::set_mode`] picks the
//! replies. A [`Mode::Good`] agent has one MBean `hostile:type=Test,name=a` with a `Value`
//! (gauge, 42) and a `Count` (counter, growing by one per read), and `java.lang:type=Runtime`'s
//! `StartTime`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// RMI method hashes (the JDK's, as `kafka_obs_jmx::jrmp::method_hash` computes them).
pub mod hash {
    pub const NEW_CLIENT: i64 = -1089742558549201240;
    pub const QUERY_NAMES: i64 = 9152567528369059802;
    pub const GET_ATTRIBUTES: i64 = 6285293806596348999;
    pub const GET_ATTRIBUTE: i64 = -1089783104982388203;
    pub const CLOSE: i64 = -4742752445160157748;
}

const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_ARRAY: u8 = 0x75;
const TC_BLOCKDATA: u8 = 0x77;
const TC_ENDBLOCKDATA: u8 = 0x78;
const TC_BLOCKDATALONG: u8 = 0x7A;
const TC_LONGSTRING: u8 = 0x7C;
const BASE_HANDLE: u32 = 0x7E_0000;

/// `SC_SERIALIZABLE`.
pub const SERIALIZABLE: u8 = 0x02;
/// `SC_SERIALIZABLE | SC_WRITE_METHOD`.
pub const WITH_WRITE_METHOD: u8 = 0x03;

/// A field of a class descriptor: type code (`B`, `J`, `L`, ...), name, and for references
/// the JVM type signature.
pub type Field<'a> = (u8, &'a str, Option<&'a str>);

/// A Java serialization stream writer that counts handles.
#[derive(Debug, Clone)]
pub struct Ser {
    pub out: Vec<u8>,
    next: u32,
}

impl Default for Ser {
    fn default() -> Self {
        Self::new()
    }
}

impl Ser {
    /// A stream: magic and version written.
    pub fn new() -> Self {
        Ser {
            out: vec![0xAC, 0xED, 0x00, 0x05],
            next: 0,
        }
    }

    fn handle(&mut self) -> u32 {
        let h = self.next;
        self.next += 1;
        h
    }

    pub fn utf(&mut self, s: &str) {
        let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out
            .extend_from_slice(s.as_bytes().get(..usize::from(len)).unwrap_or_default());
    }

    /// Block data (short or long form).
    pub fn block(&mut self, data: &[u8]) {
        match u8::try_from(data.len()) {
            Ok(n) => {
                self.out.push(TC_BLOCKDATA);
                self.out.push(n);
            }
            Err(_) => {
                self.out.push(TC_BLOCKDATALONG);
                self.out
                    .extend_from_slice(&(data.len() as i32).to_be_bytes());
            }
        }
        self.out.extend_from_slice(data);
    }

    pub fn end_block(&mut self) {
        self.out.push(TC_ENDBLOCKDATA);
    }

    pub fn null(&mut self) {
        self.out.push(TC_NULL);
    }

    /// A back-reference to handle `h`.
    pub fn reference(&mut self, h: u32) {
        self.out.push(TC_REFERENCE);
        self.out.extend_from_slice(&(BASE_HANDLE + h).to_be_bytes());
    }

    /// A new string; returns its handle.
    pub fn string(&mut self, s: &str) -> u32 {
        if s.len() <= usize::from(u16::MAX) {
            self.out.push(TC_STRING);
            let h = self.handle();
            self.utf(s);
            h
        } else {
            self.out.push(TC_LONGSTRING);
            let h = self.handle();
            self.out.extend_from_slice(&(s.len() as i64).to_be_bytes());
            self.out.extend_from_slice(s.as_bytes());
            h
        }
    }

    /// A new class descriptor (RMI style: a null codebase annotation), its superclass written
    /// by `super_class` (call [`Ser::null`] for none); returns its handle.
    pub fn class_desc(
        &mut self,
        name: &str,
        suid: i64,
        flags: u8,
        fields: &[Field<'_>],
        super_class: impl FnOnce(&mut Ser),
    ) -> u32 {
        self.out.push(TC_CLASSDESC);
        self.utf(name);
        self.out.extend_from_slice(&suid.to_be_bytes());
        let h = self.handle();
        self.out.push(flags);
        let count = u16::try_from(fields.len()).unwrap_or(u16::MAX);
        self.out.extend_from_slice(&count.to_be_bytes());
        for (code, name, class) in fields.iter().take(usize::from(count)) {
            self.out.push(*code);
            self.utf(name);
            if let Some(class) = class {
                self.string(class);
            }
        }
        self.null(); // codebase
        self.end_block();
        super_class(self);
        h
    }

    /// `TC_OBJECT`, its descriptor written by `desc`; returns the object's handle. The caller
    /// writes the class data next.
    pub fn object(&mut self, desc: impl FnOnce(&mut Ser)) -> u32 {
        self.out.push(TC_OBJECT);
        desc(self);
        self.handle()
    }

    /// `TC_ARRAY`, its descriptor written by `desc`, and the length; returns the array's handle.
    /// The caller writes the elements next.
    pub fn array(&mut self, desc: impl FnOnce(&mut Ser), len: i32) -> u32 {
        self.out.push(TC_ARRAY);
        desc(self);
        let h = self.handle();
        self.out.extend_from_slice(&len.to_be_bytes());
        h
    }

    /// A JRMP `Return` message with this stream as a normal return: `0x51`, the stream, with
    /// the return header (return type 1 and a UID) first. Call on a fresh [`Ser`] before
    /// writing the value.
    pub fn return_header(&mut self) {
        let mut header = vec![1u8];
        header.extend_from_slice(&[0u8; 14]);
        self.block(&header);
    }

    /// The finished `Return` message.
    pub fn into_return(self) -> Vec<u8> {
        let mut msg = Vec::with_capacity(self.out.len() + 1);
        msg.push(0x51);
        msg.extend_from_slice(&self.out);
        msg
    }
}

/// Descriptors and objects of the JDK classes the payloads use.
pub mod jdk {
    use super::{Field, SERIALIZABLE, Ser, WITH_WRITE_METHOD};

    /// Where a class descriptor already written lives, so the next use is a back-reference.
    #[derive(Debug, Default, Clone)]
    pub struct Descs {
        pub long: Option<u32>,
        pub double: Option<u32>,
        pub attribute: Option<u32>,
        pub object_name: Option<u32>,
    }

    fn number(s: &mut Ser) {
        s.class_desc(
            "java.lang.Number",
            -8742448824652078965,
            SERIALIZABLE,
            &[],
            Ser::null,
        );
    }

    /// A `java.lang.Long`.
    pub fn long(s: &mut Ser, descs: &mut Descs, v: i64) -> u32 {
        let h = s.object(|s| match descs.long {
            Some(d) => s.reference(d),
            None => {
                descs.long = Some(s.class_desc(
                    "java.lang.Long",
                    4290774380558885855,
                    SERIALIZABLE,
                    &[(b'J', "value", None)],
                    number,
                ))
            }
        });
        s.out.extend_from_slice(&v.to_be_bytes());
        h
    }

    /// A `java.lang.Double`.
    pub fn double(s: &mut Ser, descs: &mut Descs, v: f64) -> u32 {
        let h = s.object(|s| match descs.double {
            Some(d) => s.reference(d),
            None => {
                descs.double = Some(s.class_desc(
                    "java.lang.Double",
                    -9172774392245257468,
                    SERIALIZABLE,
                    &[(b'D', "value", None)],
                    number,
                ))
            }
        });
        s.out.extend_from_slice(&v.to_be_bytes());
        h
    }

    /// A `javax.management.Attribute`; `value` writes the value object.
    pub fn attribute(
        s: &mut Ser,
        descs: &mut Descs,
        name: &str,
        value: impl FnOnce(&mut Ser, &mut Descs),
    ) -> u32 {
        let h = s.object(|s| match descs.attribute {
            Some(d) => s.reference(d),
            None => {
                descs.attribute = Some(s.class_desc(
                    "javax.management.Attribute",
                    2484220110589082382,
                    SERIALIZABLE,
                    &[
                        (b'L', "name", Some("Ljava/lang/String;")),
                        (b'L', "value", Some("Ljava/lang/Object;")),
                    ],
                    Ser::null,
                ))
            }
        });
        s.string(name);
        value(s, descs);
        h
    }

    /// A `javax.management.ObjectName` holding `name` (not checked).
    pub fn object_name(s: &mut Ser, descs: &mut Descs, name: &str) -> u32 {
        let h = s.object(|s| match descs.object_name {
            Some(d) => s.reference(d),
            None => {
                descs.object_name = Some(s.class_desc(
                    "javax.management.ObjectName",
                    1081892073854801359,
                    WITH_WRITE_METHOD,
                    &[],
                    Ser::null,
                ))
            }
        });
        s.string(name);
        s.end_block();
        h
    }

    /// A `java.util.HashSet` of `size` elements, written by `elements`.
    pub fn hash_set(s: &mut Ser, size: i32, elements: impl FnOnce(&mut Ser)) -> u32 {
        let h = s.object(|s| {
            s.class_desc(
                "java.util.HashSet",
                -5024744406713321676,
                WITH_WRITE_METHOD,
                &[],
                Ser::null,
            );
        });
        let mut header = Vec::new();
        header.extend_from_slice(&16i32.to_be_bytes());
        header.extend_from_slice(&0.75f32.to_be_bytes());
        header.extend_from_slice(&size.to_be_bytes());
        s.block(&header);
        elements(s);
        s.end_block();
        h
    }

    /// A `javax.management.AttributeList` (an `ArrayList`) of `size` elements, written by
    /// `elements`.
    pub fn attribute_list(s: &mut Ser, size: i32, elements: impl FnOnce(&mut Ser)) -> u32 {
        let h = s.object(|s| {
            s.class_desc(
                "javax.management.AttributeList",
                -4077085769279709076,
                SERIALIZABLE,
                &[],
                |s| {
                    s.class_desc(
                        "java.util.ArrayList",
                        8683452581122892189,
                        WITH_WRITE_METHOD,
                        &[(b'I', "size", None)],
                        Ser::null,
                    );
                },
            );
        });
        // ArrayList: its `size` field, then writeObject's capacity and the elements.
        s.out.extend_from_slice(&size.to_be_bytes());
        s.block(&size.to_be_bytes());
        elements(s);
        s.end_block();
        h
    }

    /// `Object[]` with `len` elements written by `elements`.
    pub fn object_array(s: &mut Ser, len: i32, elements: impl FnOnce(&mut Ser)) -> u32 {
        let h = s.array(
            |s| {
                s.class_desc(
                    "[Ljava.lang.Object;",
                    -8012369246846506644,
                    SERIALIZABLE,
                    &[],
                    Ser::null,
                );
            },
            len,
        );
        elements(s);
        h
    }

    /// A remote stub (`RemoteObject.writeObject` data with a `UnicastRef`) for object number
    /// `objnum` at `host:port`.
    pub fn stub(s: &mut Ser, class: &str, host: &str, port: u16, objnum: i64) -> u32 {
        let h = s.object(|s| {
            s.class_desc(class, 2, SERIALIZABLE, &[], |s| {
                s.class_desc(
                    "java.rmi.server.RemoteStub",
                    -1585587260594494182,
                    SERIALIZABLE,
                    &[],
                    |s| {
                        s.class_desc(
                            "java.rmi.server.RemoteObject",
                            -3215090123894869218,
                            WITH_WRITE_METHOD,
                            &[],
                            Ser::null,
                        );
                    },
                );
            });
        });
        let mut data = Ser {
            out: Vec::new(),
            next: 0,
        };
        data.utf("UnicastRef");
        data.utf(host);
        data.out.extend_from_slice(&i32::from(port).to_be_bytes());
        data.out.extend_from_slice(&objnum.to_be_bytes());
        data.out.extend_from_slice(&7i32.to_be_bytes());
        data.out
            .extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        data.out.extend_from_slice(&1i16.to_be_bytes());
        data.out.push(0);
        let bytes: Vec<u8> = data.out;
        s.block(&bytes);
        s.end_block();
        h
    }

    /// Writes `fields` byte fields named `{prefix}{i}` (for wide hostile classes).
    pub fn byte_fields(prefix: &str, count: usize) -> Vec<String> {
        (0..count).map(|i| format!("{prefix}{i}")).collect()
    }

    /// Field descriptors for `names`, all of type `code`.
    pub fn fields_of(names: &[String], code: u8) -> Vec<Field<'_>> {
        names.iter().map(|n| (code, n.as_str(), None)).collect()
    }
}

/// Reply payloads: each a complete JRMP `Return` message.
pub mod payload {
    use super::jdk::{self, Descs};
    use super::{Field, SERIALIZABLE, Ser};

    /// Where the stubs point.
    pub fn server_stub(host: &str, port: u16) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        jdk::stub(
            &mut s,
            "javax.management.remote.rmi.RMIServerImpl_Stub",
            host,
            port,
            1,
        );
        s.into_return()
    }

    pub fn connection_stub(host: &str, port: u16) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        jdk::stub(
            &mut s,
            "javax.management.remote.rmi.RMIConnectionImpl_Stub",
            host,
            port,
            2,
        );
        s.into_return()
    }

    /// A void return (for `close`).
    pub fn void() -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        s.into_return()
    }

    /// `queryNames` answering `names`.
    pub fn names(names: &[&str]) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        let mut d = Descs::default();
        jdk::hash_set(&mut s, names.len() as i32, |s| {
            for n in names {
                jdk::object_name(s, &mut d, n);
            }
        });
        s.into_return()
    }

    /// An attribute value for [`attributes`].
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Num {
        Long(i64),
        Double(f64),
    }

    /// `getAttributes` answering `attrs`.
    pub fn attributes(attrs: &[(&str, Num)]) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        let mut d = Descs::default();
        jdk::attribute_list(&mut s, attrs.len() as i32, |s| {
            for (name, value) in attrs {
                jdk::attribute(s, &mut d, name, |s, d| match *value {
                    Num::Long(v) => {
                        jdk::long(s, d, v);
                    }
                    Num::Double(v) => {
                        jdk::double(s, d, v);
                    }
                });
            }
        });
        s.into_return()
    }

    /// `queryNames` answering one MBean name with `keys` key properties (`k0=v,k1=v,...`):
    /// quadratic to parse with a scan for duplicate keys.
    pub fn name_with_many_keys(keys: usize) -> Vec<u8> {
        let mut name = String::from("hostile:");
        for i in 0..keys {
            if i > 0 {
                name.push(',');
            }
            name.push_str(&format!("k{i}=v"));
        }
        names(&[&name])
    }

    /// A name of about `len` bytes (one key with a long value).
    pub fn long_name(len: usize) -> String {
        format!(
            "hostile:type=Test,name={}",
            "x".repeat(len.saturating_sub(23))
        )
    }

    /// `queryNames` answering a set that holds one name of `len` bytes `refs` times (one object,
    /// then back-references): a copy per reference would take `len * refs` bytes.
    pub fn shared_name(len: usize, refs: usize) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        let mut d = Descs::default();
        let name = long_name(len);
        jdk::hash_set(&mut s, refs as i32, |s| {
            let h = jdk::object_name(s, &mut d, &name);
            for _ in 1..refs {
                s.reference(h);
            }
        });
        s.into_return()
    }

    /// `getAttributes` answering `Value` = an `Object[]` holding one string of `len` bytes
    /// `refs` times.
    pub fn shared_string_array(len: usize, refs: usize) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        let mut d = Descs::default();
        jdk::attribute_list(&mut s, 1, |s| {
            jdk::attribute(s, &mut d, "Value", |s, _| {
                jdk::object_array(s, refs as i32, |s| {
                    let h = s.string(&"y".repeat(len));
                    for _ in 1..refs {
                        s.reference(h);
                    }
                });
            });
        });
        s.into_return()
    }

    /// `getAttributes` answering an `AttributeList` of `refs` back-references to one object
    /// whose class hierarchy has `levels` classes of `fields_per_level` fields: bytes, and in the
    /// top superclass also `name` = "Value" and `value` = null. A lookup that scans the fields
    /// from the object's own class up costs `levels * fields_per_level` per element.
    pub fn wide_attribute_list(levels: usize, fields_per_level: usize, refs: usize) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        // The top superclass has two reference fields (name, value), so two byte fields fewer.
        let top = levels.saturating_sub(1);
        let names: Vec<Vec<String>> = (0..levels)
            .map(|l| {
                let own = if l == top { 2 } else { 0 };
                jdk::byte_fields(&format!("f{l}_"), fields_per_level.saturating_sub(own))
            })
            .collect();
        jdk::attribute_list(&mut s, refs as i32, |s| {
            // The descriptor chain, lowest class first (each writes its superclass after it).
            fn desc(s: &mut Ser, names: &[Vec<String>], level: usize) {
                let Some(own) = names.get(level) else {
                    s.null();
                    return;
                };
                let mut fields: Vec<Field<'_>> = jdk::fields_of(own, b'B');
                if level + 1 == names.len() {
                    fields.push((b'L', "name", Some("Ljava/lang/String;")));
                    fields.push((b'L', "value", Some("Ljava/lang/Object;")));
                }
                s.class_desc(
                    &format!("hostile.Wide{level}"),
                    1,
                    SERIALIZABLE,
                    &fields,
                    |s| desc(s, names, level + 1),
                );
            }
            let h = s.object(|s| desc(s, &names, 0));
            // Class data from the top superclass down: byte fields, then (top) name, value.
            for level in (0..levels).rev() {
                s.out.extend(std::iter::repeat_n(
                    0u8,
                    names.get(level).map_or(0, Vec::len),
                ));
                if level == top {
                    s.string("Value");
                    s.null();
                }
            }
            for _ in 1..refs {
                s.reference(h);
            }
        });
        s.into_return()
    }

    /// `getAttributes` answering `Value` = a `CompositeDataSupport` whose contents map two keys
    /// to the composite itself: expanded as a tree it never ends.
    pub fn self_composite() -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        let mut d = Descs::default();
        jdk::attribute_list(&mut s, 1, |s| {
            jdk::attribute(s, &mut d, "Value", |s, _| {
                let me = s.object(|s| {
                    s.class_desc(
                        "javax.management.openmbean.CompositeDataSupport",
                        8003518976613702244,
                        SERIALIZABLE,
                        &[
                            (
                                b'L',
                                "compositeType",
                                Some("Ljavax/management/openmbean/CompositeType;"),
                            ),
                            (b'L', "contents", Some("Ljava/util/SortedMap;")),
                        ],
                        Ser::null,
                    );
                });
                s.null(); // compositeType
                s.object(|s| {
                    s.class_desc(
                        "java.util.TreeMap",
                        919286545866124006,
                        super::WITH_WRITE_METHOD,
                        &[(b'L', "comparator", Some("Ljava/util/Comparator;"))],
                        Ser::null,
                    );
                });
                s.null(); // comparator
                s.block(&2i32.to_be_bytes());
                s.string("a");
                s.reference(me);
                s.string("b");
                s.reference(me);
                s.end_block();
            });
        });
        s.into_return()
    }

    /// `getAttributes` answering `Value` = an `Object[]` of `len` nulls (one byte each on the
    /// wire, eight or more in memory).
    pub fn null_array(len: usize) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        let mut d = Descs::default();
        jdk::attribute_list(&mut s, 1, |s| {
            jdk::attribute(s, &mut d, "Value", |s, _| {
                jdk::object_array(s, len as i32, |s| {
                    s.out.extend(std::iter::repeat_n(super::TC_NULL, len));
                });
            });
        });
        s.into_return()
    }

    /// `getAttributes` answering `Value` = an `Object[]` of `count` objects of one class with
    /// `fields` byte fields (a byte each on the wire; a tagged value each when decoded naively).
    pub fn wide_objects(count: usize, fields: usize) -> Vec<u8> {
        let mut s = Ser::new();
        s.return_header();
        let mut d = Descs::default();
        let names = jdk::byte_fields("b", fields);
        jdk::attribute_list(&mut s, 1, |s| {
            jdk::attribute(s, &mut d, "Value", |s, _| {
                jdk::object_array(s, count as i32, |s| {
                    let mut desc = None;
                    for i in 0..count {
                        s.object(|s| match desc {
                            Some(h) => s.reference(h),
                            None => {
                                desc = Some(s.class_desc(
                                    "hostile.WideObject",
                                    1,
                                    SERIALIZABLE,
                                    &jdk::fields_of(&names, b'B'),
                                    Ser::null,
                                ))
                            }
                        });
                        s.out.extend(std::iter::repeat_n(i as u8, fields));
                    }
                });
            });
        });
        s.into_return()
    }
}

/// What the server answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A well-behaved agent (see the module docs).
    Good,
    /// `queryNames`: one name with 300 000 keys.
    ManyKeys,
    /// `queryNames`: one 60 000-byte name referenced 499 999 times (within the old reader's cap on
    /// custom-data items).
    SharedName,
    /// `getAttributes`: 499 999 back-references to one object of a class hierarchy with
    /// 64 x 4 096 fields.
    WideClass,
    /// `getAttributes`: a composite that contains itself.
    SelfComposite,
    /// `getAttributes`: an array of 33 million nulls.
    NullArray,
    /// `getAttributes`: 8 000 objects of a class with 4 096 byte fields.
    WideObjects,
    /// `getAttributes`: `Value` = 1e308 and `Count` = i64::MIN.
    AbsurdValues,
}

/// The hostile agent's name pattern and MBean.
pub const MBEAN: &str = "hostile:type=Test,name=a";

/// A built payload: the mode, the call (0 queryNames, 1 getAttributes), the bytes.
type Cached = (Mode, u8, Arc<Vec<u8>>);

struct State {
    mode: Mutex<Mode>,
    count: AtomicI64,
    stop: AtomicBool,
    /// Built payloads by mode, built once (some take a while).
    cache: Mutex<Vec<Cached>>,
}

/// A running hostile agent; stops (and closes its connections) when dropped.
pub struct HostileJmx {
    port: u16,
    state: Arc<State>,
}

impl std::fmt::Debug for HostileJmx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileJmx")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl HostileJmx {
    /// Serves on a free 127.0.0.1 port in `mode`.
    pub fn start(mode: Mode) -> io::Result<HostileJmx> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            count: AtomicI64::new(0),
            stop: AtomicBool::new(false),
            cache: Mutex::new(Vec::new()),
        });
        let accept_state = state.clone();
        thread::Builder::new()
            .name("hostile-jmx".into())
            .spawn(move || {
                while !accept_state.stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = accept_state.clone();
                            let _ = thread::Builder::new()
                                .name("hostile-jmx-conn".into())
                                .spawn(move || {
                                    let _ = serve(stream, port, &state);
                                });
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })?;
        Ok(HostileJmx { port, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Changes what the next calls get.
    pub fn set_mode(&self, mode: Mode) {
        if let Ok(mut m) = self.state.mode.lock() {
            *m = mode;
        }
    }

    /// Builds the payloads of `mode` now (so a test's timing does not include building them).
    pub fn prepare(&self, mode: Mode) {
        let _ = payload_for(&self.state, mode, 0);
        let _ = payload_for(&self.state, mode, 1);
    }
}

impl Drop for HostileJmx {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
    }
}

/// The reply to call `kind` (0 queryNames, 1 getAttributes) in `mode`.
fn payload_for(state: &State, mode: Mode, kind: u8) -> Arc<Vec<u8>> {
    use payload::Num;
    if let Ok(cache) = state.cache.lock()
        && let Some((_, _, p)) = cache.iter().find(|(m, k, _)| *m == mode && *k == kind)
    {
        return p.clone();
    }
    let good_names = || payload::names(&[MBEAN]);
    let bytes = match (mode, kind) {
        (Mode::ManyKeys, 0) => payload::name_with_many_keys(300_000),
        (Mode::SharedName, 0) => payload::shared_name(60_000, 499_999),
        (_, 0) => good_names(),
        (Mode::WideClass, _) => payload::wide_attribute_list(64, 4096, 499_999),
        (Mode::SelfComposite, _) => payload::self_composite(),
        (Mode::NullArray, _) => payload::null_array(33_000_000),
        (Mode::WideObjects, _) => payload::wide_objects(8_000, 4_096),
        (Mode::AbsurdValues, _) => payload::attributes(&[
            ("StartTime", Num::Long(1_700_000_000_000)),
            ("Value", Num::Double(1e308)),
            ("Count", Num::Long(i64::MIN)),
        ]),
        // Good: built per call (the counter moves), never cached.
        (_, _) => {
            return Arc::new(payload::attributes(&[
                ("StartTime", Num::Long(1_700_000_000_000)),
                ("Value", Num::Long(42)),
                (
                    "Count",
                    Num::Long(state.count.fetch_add(1, Ordering::Relaxed)),
                ),
            ]));
        }
    };
    let bytes = Arc::new(bytes);
    if let Ok(mut cache) = state.cache.lock() {
        cache.push((mode, kind, bytes.clone()));
    }
    bytes
}

/// Reads one call (it arrives in one write from the client; wait briefly for stragglers).
fn read_call(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut call = vec![0u8; 64 * 1024];
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let n = stream.read(&mut call)?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    call.truncate(n);
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut more = [0u8; 4096];
    loop {
        match stream.read(&mut more) {
            Ok(0) => break,
            Ok(m) => call.extend_from_slice(more.get(..m).unwrap_or_default()),
            Err(_) => break,
        }
    }
    Ok(call)
}

fn serve(mut stream: TcpStream, port: u16, state: &State) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    // JRMP handshake: "JRMI", version, protocol; ProtocolAck with the client's host and port;
    // then the client's own endpoint.
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut hello = [0u8; 7];
    stream.read_exact(&mut hello)?;
    let mut ack = vec![0x4E, 0x00, 0x09];
    ack.extend_from_slice(b"127.0.0.1");
    ack.extend_from_slice(&0i32.to_be_bytes());
    stream.write_all(&ack)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut rest = vec![0u8; usize::from(u16::from_be_bytes(len)) + 4];
    stream.read_exact(&mut rest)?;
    while !state.stop.load(Ordering::Relaxed) {
        let call = read_call(&mut stream)?;
        // 0x50, stream header (4), block header (2), ObjID (22), op (4), hash (8).
        let objnum = call
            .get(7..15)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
            .unwrap_or(-1);
        let hash = call
            .get(33..41)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
            .unwrap_or(0);
        let mode = state.mode.lock().map(|m| *m).unwrap_or(Mode::Good);
        let reply: Arc<Vec<u8>> = match (objnum, hash) {
            (0, _) => Arc::new(payload::server_stub("127.0.0.1", port)),
            (_, hash::NEW_CLIENT) => Arc::new(payload::connection_stub("127.0.0.1", port)),
            (_, hash::QUERY_NAMES) => payload_for(state, mode, 0),
            (_, hash::GET_ATTRIBUTES) => payload_for(state, mode, 1),
            (_, hash::CLOSE) => Arc::new(payload::void()),
            _ => {
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
        };
        stream.write_all(&reply)?;
    }
    Ok(())
}
