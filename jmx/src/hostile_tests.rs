//! Replies built to be expensive (issue #14), decoded the way the client decodes them. Each
//! case is sized so the code before the fix took seconds to minutes or gigabytes; the asserts
//! are on work counters (field probes, nodes converted, bytes handed to the parser) and on
//! budget errors, never on time.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kafka_obs_testkit::hostile_jmx::payload;

use crate::client::{attributes_of, names_of};
use crate::error::JmxError;
use crate::javaser::reader::Feed;
use crate::javaser::{DecodeError, Limits};
use crate::jrmp::{ReturnKind, ReturnMessage, parse_return, parse_return_incremental};
use crate::value::Value;

fn parse(bytes: &[u8]) -> Result<ReturnMessage, DecodeError> {
    let (reply, used) = parse_return(bytes, ReturnKind::Value, &Limits::default())?;
    assert_eq!(used, bytes.len());
    Ok(reply)
}

fn attrs(reply: &ReturnMessage, names: &[&str]) -> Result<Vec<(String, Value)>, JmxError> {
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    attributes_of(reply, &names, "hostile:1")
}

/// Bytes of memory the reader charged for a reply's graph.
fn charged(reply: &ReturnMessage) -> usize {
    Limits::default().budget_for(reply.wire_bytes) - reply.value_budget
}

#[test]
fn well_formed_replies_read_as_before() {
    use payload::Num;
    let reply = parse(&payload::attributes(&[
        ("Value", Num::Long(42)),
        ("Rate", Num::Double(0.5)),
    ]))
    .unwrap();
    let got = attrs(&reply, &["Value", "Rate", "Absent"]).unwrap();
    assert_eq!(
        got,
        vec![
            ("Value".to_owned(), Value::Long(42)),
            ("Rate".to_owned(), Value::Double(0.5))
        ]
    );
    // What was not asked for is left out.
    assert_eq!(attrs(&reply, &["Rate"]).unwrap().len(), 1);
    let reply = parse(&payload::names(&["a:type=x", "b:type=y,name=z"])).unwrap();
    let names = names_of(&reply, "hostile:1").unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(names[1].get("name"), Some("z"));
}

/// 300 000 keys in one name: the duplicate-key scan was quadratic (80k keys 17 s). The parse is
/// linear now (see `object_name::tests`), and a name that size is refused as implausible.
#[test]
fn a_name_with_300_000_keys_is_refused() {
    let bytes = payload::name_with_many_keys(300_000);
    let reply = parse(&bytes).unwrap();
    let err = names_of(&reply, "hostile:1").unwrap_err();
    assert!(
        err.to_string()
            .contains("implausible reply: an MBean name of"),
        "{err}"
    );
    // Just under the caps: parsed, linearly.
    let reply = parse(&payload::name_with_many_keys(200)).unwrap();
    assert_eq!(
        names_of(&reply, "hostile:1").unwrap()[0].properties().len(),
        200
    );
}

/// 500 000 references to one attribute object whose class hierarchy declares thousands of
/// fields: `Graph::field` scanned every field for every element (16 384 x 500 000 = 8e9
/// comparisons). Now each field lookup is one hash probe, and a list that long for one
/// requested attribute is refused after 1 025 entries.
#[test]
fn field_lookups_are_indexed_and_bounded_by_the_entry_cap() {
    let bytes = payload::wide_attribute_list(16, 1024, 500_000);
    let reply = parse(&bytes).unwrap();
    let err = attrs(&reply, &["Value"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("an AttributeList of more than 1025 entries"),
        "{err}"
    );
    assert!(
        reply.graph.probes() <= 1026, // a name per entry, one value
        "{} field probes",
        reply.graph.probes()
    );

    // Within the entry cap: the one attribute, once; one probe per entry, plus its value.
    let reply = parse(&payload::wide_attribute_list(16, 1024, 1_000)).unwrap();
    let got = attrs(&reply, &["Value"]).unwrap();
    assert_eq!(got, vec![("Value".to_owned(), Value::Null)]);
    assert!(
        reply.graph.probes() <= 1_001,
        "{} field probes",
        reply.graph.probes()
    );
    // Any field of the hierarchy is one probe: the own class's last one included.
    let element = crate::value::collection_elements(
        &reply.graph,
        match reply.outcome {
            crate::jrmp::Outcome::Value(Some(r)) => r,
            _ => panic!(),
        },
    )
    .flatten()
    .next()
    .unwrap();
    let before = reply.graph.probes();
    assert_eq!(
        reply.graph.field(element, "f0_1023"),
        Some(crate::javaser::FieldValue::Prim(
            crate::javaser::Prim::Byte(0)
        ))
    );
    assert_eq!(reply.graph.field(element, "nope"), None);
    assert_eq!(reply.graph.probes() - before, 2);
    // The size, 64 x 4 096 fields: its descriptors alone outgrow the decode budget.
    let bytes = payload::wide_attribute_list(64, 4096, 500_000);
    let err = parse(&bytes).unwrap_err();
    assert!(matches!(err, DecodeError::BudgetExceeded { .. }), "{err}");
}

/// One 60 000-byte string referenced 200 000 times: a copy per reference was 12 GB. Now every
/// element shares one allocation and each node is converted once.
#[test]
fn back_references_share_one_value() {
    let bytes = payload::shared_string_array(60_000, 200_000);
    assert!(bytes.len() < 1_100_000);
    let reply = parse(&bytes).unwrap();
    let got = attrs(&reply, &["Value"]).unwrap();
    let Value::Array(items) = &got[0].1 else {
        panic!("{:?}", got[0].1)
    };
    assert_eq!(items.len(), 200_000);
    let Value::String(first) = &items[0] else {
        panic!()
    };
    assert_eq!(first.len(), 60_000);
    assert!(
        items
            .iter()
            .all(|v| matches!(v, Value::String(s) if Arc::ptr_eq(s, first)))
    );

    // The same through queryNames: one set element referenced 500 000 times is one name.
    let reply = parse(&payload::shared_name(10_000, 500_000)).unwrap();
    assert_eq!(names_of(&reply, "hostile:1").unwrap().len(), 1);
    // The 60 000-byte name is longer than any real one: refused.
    let reply = parse(&payload::shared_name(60_000, 500_000)).unwrap();
    let err = names_of(&reply, "hostile:1").unwrap_err();
    assert!(err.to_string().contains("implausible"), "{err}");
}

/// A composite whose contents hold itself twice: expanded as a tree, 744 MB from 1 092 bytes.
/// Now the cycle is detected and the reply refused.
#[test]
fn a_self_referential_composite_is_a_cycle() {
    let bytes = payload::self_composite();
    assert!(bytes.len() < 1200);
    let reply = parse(&bytes).unwrap();
    let err = attrs(&reply, &["Value"]).unwrap_err();
    assert!(err.to_string().contains("contains itself"), "{err}");
    let mut converter = crate::value::Converter::new(&reply.graph);
    for i in 0..reply.graph.nodes.len() {
        converter.value(Some(crate::javaser::Ref(i as u32)));
    }
    assert!(converter.steps() <= reply.graph.nodes.len() as u64);
}

/// Nulls are one byte on the wire and eight in memory (then 24 as values): charged, so 8
/// million of them (8 MB) stop at the budget instead of taking 260 MB; a moderate array reads.
#[test]
fn null_arrays_are_charged() {
    let err = parse(&payload::null_array(8_000_000)).unwrap_err();
    assert!(matches!(err, DecodeError::BudgetExceeded { .. }), "{err}");
    // The 33 million: beyond the reply size cap.
    let limits = Limits {
        max_bytes: 4 * 1024 * 1024,
        ..Limits::default()
    };
    let err =
        parse_return(&payload::null_array(5_000_000), ReturnKind::Value, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { .. }), "{err}");
    let reply = parse(&payload::null_array(10_000)).unwrap();
    let got = attrs(&reply, &["Value"]).unwrap();
    assert!(matches!(&got[0].1, Value::Array(a) if a.len() == 10_000));
    // Converting a bigger one runs out of the value budget before it takes memory.
    let reply = parse(&payload::null_array(1_000_000)).unwrap();
    let err = attrs(&reply, &["Value"]).unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}

/// Objects with 4 096 byte fields: each byte became a 32-byte tagged value (32 MB -> 1 GB). Now
/// an object keeps its primitive bytes as received.
#[test]
fn primitive_fields_take_the_memory_they_took_on_the_wire() {
    let bytes = payload::wide_objects(2_000, 4_096);
    let reply = parse(&bytes).unwrap();
    let charged = charged(&reply);
    assert!(
        charged < bytes.len() + bytes.len() / 10,
        "{charged} bytes charged for {} received",
        bytes.len()
    );
    // The 8 000 objects (32 MB) are beyond the reply size cap (16 MiB) and the budget's.
    let err = parse(&payload::wide_objects(8_000, 4_096)).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::LimitExceeded { .. } | DecodeError::BudgetExceeded { .. }
        ),
        "{err}"
    );
}

/// A feed that hands out `bytes` in chunks of `chunk`, counting what it handed out.
fn feed(bytes: Vec<u8>, chunk: usize, handed: Arc<AtomicUsize>) -> Feed {
    let mut at = 0;
    Box::new(move || {
        let end = (at + chunk).min(bytes.len());
        let piece = bytes.get(at..end)?.to_vec();
        if piece.is_empty() {
            return None;
        }
        at = end;
        handed.fetch_add(piece.len(), Ordering::Relaxed);
        Some(piece)
    })
}

/// `Connection::exchange` parsed the whole buffer again after every read (quadratic in the
/// number of reads). The incremental reader asks for each byte once, whatever the chunking.
#[test]
fn incremental_frames_read_every_byte_once() {
    let bytes = payload::wide_objects(100, 512);
    let whole = parse(&bytes).unwrap();
    for chunk in [1, 7, 4096] {
        let handed = Arc::new(AtomicUsize::new(0));
        let rest = bytes[1..].to_vec();
        let (reply, after) = parse_return_incremental(
            Vec::new(),
            feed(rest, chunk, handed.clone()),
            None,
            ReturnKind::Value,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(reply.graph, whole.graph, "chunks of {chunk}");
        assert_eq!(reply.wire_bytes, bytes.len());
        assert!(after.is_empty());
        assert_eq!(
            handed.load(Ordering::Relaxed),
            bytes.len() - 1,
            "chunks of {chunk}"
        );
    }
    // A feed that ends early is a truncated reply; a cancelled one stops at once.
    let handed = Arc::new(AtomicUsize::new(0));
    let cut = bytes[1..bytes.len() / 2].to_vec();
    let err = parse_return_incremental(
        Vec::new(),
        feed(cut, 4096, handed),
        None,
        ReturnKind::Value,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err, DecodeError::Truncated);
    let cancel = Arc::new(AtomicBool::new(true));
    let endless: Feed = Box::new(|| Some(vec![0x70; 4096]));
    let err = parse_return_incremental(
        bytes[1..200].to_vec(),
        endless,
        Some(cancel),
        ReturnKind::Value,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err, DecodeError::Cancelled);
}

/// The test kit's hostile agent recognises calls by the hashes the client sends.
#[test]
fn the_hostile_agent_knows_the_method_hashes() {
    use kafka_obs_testkit::hostile_jmx::hash;
    let m = &*crate::jrmp::METHODS;
    assert_eq!(
        (
            m.new_client,
            m.query_names,
            m.get_attributes,
            m.get_attribute,
            m.close
        ),
        (
            hash::NEW_CLIENT,
            hash::QUERY_NAMES,
            hash::GET_ATTRIBUTES,
            hash::GET_ATTRIBUTE,
            hash::CLOSE
        )
    );
}
