//! Real replies as a corpus: one test records what a real JVM sends (through a TCP proxy) and
//! checks every reply parses; another replays the stored corpus (`tests/corpus/*.bin`) truncated
//! and byte-mutated, asserting the parser never panics. Set `KAFKA_OBS_JMX_WRITE_CORPUS=1` to
//! rewrite the stored corpus from a live JVM.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::PathBuf;

use kafka_obs_jmx::javaser::{DecodeError, Limits};
use kafka_obs_jmx::jrmp::{ReturnKind, parse_return};
use kafka_obs_jmx::{Endpoint, JmxClient, ObjectName};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

fn on(s: &str) -> ObjectName {
    ObjectName::parse(s).unwrap()
}

/// Splits what a server sent on one connection into its `Return` messages.
fn split_replies(stream: &[u8]) -> Vec<Vec<u8>> {
    // ProtocolAck, host (UTF), port.
    assert_eq!(stream[0], 0x4E);
    let host_len = usize::from(u16::from_be_bytes([stream[1], stream[2]]));
    let mut rest = &stream[3 + host_len + 4..];
    let mut replies = Vec::new();
    while !rest.is_empty() {
        let used = kafka_obs_jmx::fuzzing::reply(rest).unwrap_or_else(|| {
            let err = kafka_obs_jmx::jrmp::parse_return(
                rest,
                kafka_obs_jmx::jrmp::ReturnKind::Value,
                &Default::default(),
            )
            .unwrap_err();
            panic!("reply {} does not parse: {err}", replies.len())
        });
        replies.push(rest[..used].to_vec());
        rest = &rest[used..];
    }
    replies
}

#[tokio::test]
async fn real_replies_parse_and_can_be_recorded() {
    let jvm = common::start(common::target());
    let proxy = common::RecordingProxy::start(jvm.jmx_port()).await;
    let options = common::options().with_pinned_endpoint(true);
    let mut client = JmxClient::connect(Endpoint::new("127.0.0.1", proxy.port), options)
        .await
        .unwrap();
    let values = on("kafka.obs.test:type=Values");
    let all = [
        "LongValue",
        "IntValue",
        "DoubleValue",
        "FloatValue",
        "BoolValue",
        "StringValue",
        "NanValue",
        "NullValue",
        "ShortValue",
        "LongArray",
        "DoubleArray",
        "StringArray",
        "IntegerArray",
        "EnumValue",
        "CompositeValue",
        "TabularValue",
    ];
    client.get_attributes(&values, &all).await.unwrap();
    client
        .get_attribute(&on("java.lang:type=Memory"), "HeapMemoryUsage")
        .await
        .unwrap();
    client.query_names(&on("kafka.producer:*")).await.unwrap();
    let gcs = client
        .query_names(&on("java.lang:type=GarbageCollector,*"))
        .await
        .unwrap();
    client
        .get_attributes(
            &gcs[0],
            &["CollectionCount", "LastGcInfo", "MemoryPoolNames"],
        )
        .await
        .unwrap();
    client
        .get_attributes(
            &on("java.lang:type=Runtime"),
            &["SystemProperties", "InputArguments"],
        )
        .await
        .unwrap();
    client.get_attribute(&values, "Boom").await.unwrap_err();
    client.get_attribute(&values, "Nope").await.unwrap_err();
    client
        .get_attributes(&on("kafka.obs.test:type=Missing"), &["X"])
        .await
        .unwrap_err();
    client.close().await.unwrap();

    let recorded = proxy.recorded.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    let replies = split_replies(&recorded[0]);
    // lookup, newClient, 9 calls, close
    assert_eq!(replies.len(), 12);
    let names = [
        "lookup-stub",
        "newclient-stub",
        "getattributes-all-shapes",
        "getattribute-heap-composite",
        "querynames-producer",
        "querynames-gc",
        "getattributes-gc",
        "getattributes-runtime-tabular",
        "exception-mbeanexception",
        "exception-attributenotfound",
        "exception-instancenotfound",
        "close-void",
    ];
    if std::env::var_os("KAFKA_OBS_JMX_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(corpus_dir()).unwrap();
        for (i, (reply, name)) in replies.iter().zip(names).enumerate() {
            std::fs::write(corpus_dir().join(format!("{i:02}-{name}.bin")), reply).unwrap();
        }
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_corpus_never_panics() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus has {} files", files.len());
    let mut rng = XorShift(0x5EED_1234_ABCD_0001);
    let limits = Limits::default();
    let mut runs = 0usize;
    for file in &files {
        let original = std::fs::read(file).unwrap();
        // The stored replies themselves parse completely.
        assert_eq!(
            kafka_obs_jmx::fuzzing::reply(&original),
            Some(original.len()),
            "{}",
            file.display()
        );
        let kind = if parse_return(&original, ReturnKind::Value, &limits).is_ok() {
            ReturnKind::Value
        } else {
            ReturnKind::Void
        };
        let len = original.len();
        // Positions to damage: all of a small reply, a sample of a large one.
        let positions: Vec<usize> = if len <= 300 {
            (0..len).collect()
        } else {
            (0..300)
                .map(|_| (rng.next() % len as u64) as usize)
                .collect()
        };
        for &pos in &positions {
            // Truncated: always "need more bytes", never a wrong verdict, since the transport
            // parses replies as they arrive.
            assert_eq!(
                parse_return(&original[..pos], kind, &limits).unwrap_err(),
                DecodeError::Truncated,
                "{} cut at {pos}",
                file.display()
            );
            kafka_obs_jmx::fuzzing::reply(&original[..pos]);
            // One byte changed three ways.
            for flip in [0xFFu8, 0x01, (rng.next() as u8) | 1] {
                let mut mutated = original.clone();
                mutated[pos] ^= flip;
                kafka_obs_jmx::fuzzing::reply(&mutated);
                runs += 1;
            }
            // A byte inserted and a byte removed (shifts every later offset).
            let mut inserted = original.clone();
            inserted.insert(pos, rng.next() as u8);
            kafka_obs_jmx::fuzzing::reply(&inserted);
            let mut removed = original.clone();
            removed.remove(pos);
            kafka_obs_jmx::fuzzing::reply(&removed);
            // Set to interesting values: tags, lengths.
            for v in [0x70u8, 0x71, 0x73, 0x75, 0x77, 0x7A, 0x7F, 0x00, 0xFF] {
                let mut m = original.clone();
                m[pos] = v;
                kafka_obs_jmx::fuzzing::reply(&m);
            }
            runs += 14;
        }
        // Also as plain object streams (without the Return byte).
        kafka_obs_jmx::fuzzing::stream(&original[1..]);
    }
    eprintln!("{runs} mutated replies parsed without a panic");
}
