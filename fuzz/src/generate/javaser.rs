//! Java serialization built to be expensive: well-formed `Return` replies (as a hostile JMX
//! agent would send them) whose decoding would cost far more than their size if a budget
//! failed: deep nesting, many back-references to one large object, huge declared arrays,
//! classes with thousands of fields or a deep hierarchy, long strings, a CompositeData or
//! TabularData that contains itself, MBean names with many keys, and extreme numbers.
//!
//! The streams are written with the hostile agent's own writer and payload builders
//! (`kafka_obs_testkit::hostile_jmx`), so the fuzzer and the hostile-server tests speak the
//! same dialect.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use kafka_obs_testkit::hostile_jmx::jdk::{self, Descs};
use kafka_obs_testkit::hostile_jmx::payload::{self, Num};
use kafka_obs_testkit::hostile_jmx::{SERIALIZABLE, Ser, WITH_WRITE_METHOD};

use super::{draw, pick, size};

/// Tags, magic and class names the mutator splices in.
pub static DICTIONARY: &[&[u8]] = &[
    b"\xAC\xED\x00\x05",
    b"\x51",
    b"\x70",
    b"\x71\x00\x7E\x00\x00",
    b"\x71\x00\x7E\x00\x01",
    b"\x72",
    b"\x73",
    b"\x74",
    b"\x75",
    b"\x77",
    b"\x78",
    b"\x79",
    b"\x7A",
    b"\x7B",
    b"\x7C",
    b"\x7D",
    b"\x7E",
    b"java.lang.Long",
    b"javax.management.ObjectName",
    b"javax.management.Attribute",
    b"javax.management.AttributeList",
    b"javax.management.openmbean.CompositeDataSupport",
    b"javax.management.openmbean.TabularDataSupport",
    b"java.util.HashMap",
    b"[Ljava.lang.Object;",
    b"Ljava/lang/String;",
];

/// Draws one `Return` message of a shape.
pub type Shape = fn(&mut TestRunner) -> Vec<u8>;

/// The shapes [`reply`] draws from, by name.
pub static SHAPES: &[(&str, Shape)] = &[
    ("name with many keys", many_keys),
    ("one long name, many back-references", shared_name),
    ("one long string, many back-references", shared_string),
    ("AttributeList over a wide class hierarchy", wide_hierarchy),
    ("self-referencing CompositeData", |_| {
        payload::self_composite()
    }),
    ("self-referencing TabularData", self_tabular),
    ("array of nulls", null_array),
    ("many objects of a wide class", wide_objects),
    ("deeply nested arrays", nested_arrays),
    ("huge declared array", huge_declared_array),
    ("huge declared long string", huge_long_string),
    ("many distinct classes", many_classes),
    ("extreme attribute values", extreme_attributes),
];

/// A reply of a randomly chosen expensive shape.
pub fn reply(runner: &mut TestRunner) -> Vec<u8> {
    let (_, shape) = pick(runner, SHAPES);
    shape(runner)
}

/// A plain stream: a reply without the `Return` byte.
pub fn stream(runner: &mut TestRunner) -> Vec<u8> {
    let mut reply = reply(runner);
    reply.remove(0);
    reply
}

/// An MBean name: many keys, quoted and escaped values, patterns.
pub fn object_name(runner: &mut TestRunner) -> Vec<u8> {
    let keys = size(runner, 20_000);
    let value = draw(
        runner,
        prop_oneof![
            Just("v".to_string()),
            "[a-z0-9*?]{0,8}",
            "\"([^\"\\\\]|\\\\[\"\\\\n*?]){0,12}\"",
        ],
    );
    let domain = draw(runner, "[a-zA-Z.*?]{0,12}");
    let mut name = format!("{domain}:");
    for i in 0..keys {
        if i > 0 {
            name.push(',');
        }
        name.push_str(&format!("k{i}={value}"));
    }
    if runner.rng().random_bool(0.2) {
        name.push_str(",*");
    }
    name.into_bytes()
}

fn many_keys(runner: &mut TestRunner) -> Vec<u8> {
    payload::name_with_many_keys(size(runner, 300_000))
}

fn shared_name(runner: &mut TestRunner) -> Vec<u8> {
    payload::shared_name(size(runner, 65_000).max(24), size(runner, 200_000).max(1))
}

fn shared_string(runner: &mut TestRunner) -> Vec<u8> {
    payload::shared_string_array(size(runner, 65_000), size(runner, 200_000).max(1))
}

fn wide_hierarchy(runner: &mut TestRunner) -> Vec<u8> {
    let levels = size(runner, 100).max(1);
    let fields = size(runner, 8_192 / levels).max(2);
    payload::wide_attribute_list(levels, fields, size(runner, 100_000).max(1))
}

fn null_array(runner: &mut TestRunner) -> Vec<u8> {
    payload::null_array(size(runner, 4_000_000))
}

fn wide_objects(runner: &mut TestRunner) -> Vec<u8> {
    let fields = size(runner, 4_096).max(1);
    payload::wide_objects(size(runner, 2_000_000 / fields), fields)
}

/// `Value` = `Object[]` holding an `Object[]` ... `depth` deep.
fn nested_arrays(runner: &mut TestRunner) -> Vec<u8> {
    let depth = size(runner, 2_000).max(1);
    value_reply(|s| {
        // The outermost array writes the class descriptor, which takes the handle just before
        // the array's; the inner ones refer back to it.
        let outer = jdk::object_array(s, 1, |_| {});
        let desc = outer.saturating_sub(1);
        for _ in 1..depth {
            s.array(|s| s.reference(desc), 1);
        }
        s.null();
    })
}

/// `Value` = `Object[]` declaring up to 2^31-1 elements and holding a few.
fn huge_declared_array(runner: &mut TestRunner) -> Vec<u8> {
    let declared = draw(
        runner,
        prop_oneof![Just(i32::MAX), Just(-1), 1_000_000..i32::MAX],
    );
    let present = size(runner, 1_000);
    value_reply(|s| {
        jdk::object_array(s, declared, |s| {
            for _ in 0..present {
                s.null();
            }
        });
    })
}

/// `Value` = a `TC_LONGSTRING` declaring far more bytes than it holds.
fn huge_long_string(runner: &mut TestRunner) -> Vec<u8> {
    let declared = draw(
        runner,
        prop_oneof![Just(i64::MAX), Just(1i64 << 62), 1i64 << 20..1i64 << 40],
    );
    let present = size(runner, 100_000);
    value_reply(|s| {
        s.out.push(0x7C);
        s.out.extend_from_slice(&declared.to_be_bytes());
        s.out.extend(std::iter::repeat_n(b'z', present));
    })
}

/// An `AttributeList` of objects of `count` different classes, each with a few fields.
fn many_classes(runner: &mut TestRunner) -> Vec<u8> {
    let count = size(runner, 100_000);
    let fields = size(runner, 64).max(1);
    let names = jdk::byte_fields("f", fields);
    let mut s = Ser::new();
    s.return_header();
    jdk::attribute_list(&mut s, i32::try_from(count).unwrap_or(i32::MAX), |s| {
        for i in 0..count {
            s.object(|s| {
                s.class_desc(
                    &format!("hostile.C{i}"),
                    1,
                    SERIALIZABLE,
                    &jdk::fields_of(&names, b'B'),
                    Ser::null,
                );
            });
            s.out.extend(std::iter::repeat_n(0u8, fields));
        }
    });
    s.into_return()
}

/// `getAttributes` answering numbers a sane MBean never reports.
fn extreme_attributes(runner: &mut TestRunner) -> Vec<u8> {
    let count = size(runner, 2_000).max(1);
    let values: Vec<Num> = (0..count)
        .map(|_| {
            draw(
                runner,
                prop_oneof![
                    any::<i64>().prop_map(Num::Long),
                    Just(Num::Long(i64::MIN)),
                    Just(Num::Long(i64::MAX)),
                    any::<f64>().prop_map(Num::Double),
                    Just(Num::Double(f64::NAN)),
                    Just(Num::Double(f64::INFINITY)),
                    Just(Num::Double(1e308)),
                ],
            )
        })
        .collect();
    let names: Vec<String> = (0..count)
        .map(|i| {
            if i % 2 == 0 {
                "Value".to_string()
            } else {
                format!("A{i}")
            }
        })
        .collect();
    let attrs: Vec<(&str, Num)> = names.iter().map(String::as_str).zip(values).collect();
    payload::attributes(&attrs)
}

/// `Value` = a `TabularDataSupport` whose `dataMap` (a `HashMap`) maps keys to the tabular
/// data itself, `entries` times: a naive tree expansion never ends.
fn self_tabular(runner: &mut TestRunner) -> Vec<u8> {
    let entries = size(runner, 10_000).max(1);
    value_reply(|s| {
        let me = s.object(|s| {
            s.class_desc(
                "javax.management.openmbean.TabularDataSupport",
                5720150593236309827,
                SERIALIZABLE,
                &[
                    (b'L', "dataMap", Some("Ljava/util/Map;")),
                    (
                        b'L',
                        "tabularType",
                        Some("Ljavax/management/openmbean/TabularType;"),
                    ),
                ],
                Ser::null,
            );
        });
        s.object(|s| {
            s.class_desc(
                "java.util.HashMap",
                362498820763181265,
                WITH_WRITE_METHOD,
                &[(b'F', "loadFactor", None), (b'I', "threshold", None)],
                Ser::null,
            );
        });
        s.out.extend_from_slice(&0.75f32.to_be_bytes());
        s.out.extend_from_slice(&12i32.to_be_bytes());
        let mut header = Vec::new();
        header.extend_from_slice(&16i32.to_be_bytes());
        header.extend_from_slice(&i32::try_from(entries).unwrap_or(i32::MAX).to_be_bytes());
        s.block(&header);
        for i in 0..entries {
            s.string(&format!("k{i}"));
            s.reference(me);
        }
        s.end_block();
        s.null(); // tabularType
    })
}

/// `getAttributes` answering one attribute `Value` whose value `value` writes.
fn value_reply(value: impl FnOnce(&mut Ser)) -> Vec<u8> {
    let mut s = Ser::new();
    s.return_header();
    let mut d = Descs::default();
    jdk::attribute_list(&mut s, 1, |s| {
        jdk::attribute(s, &mut d, "Value", |s, _| value(s));
    });
    s.into_return()
}
