//! Unit tests of our own logic: config keys and their errors, time-lag math, reply checks and
//! decoding, and the conversion to OTLP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, MetadataRequest, MetadataResponse, ResponseHeader, TopicName,
    consumer_protocol_assignment::TopicPartition,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

use super::config::RawConfig;
use super::*;

fn parse(yaml: &str) -> Result<KafkaAdminConfig, ComponentConfigError> {
    KafkaAdminConfig::parse(&serde_yaml_ng::from_str(yaml).unwrap())
}

// ---- config ---------------------------------------------------------------------------------

#[test]
fn defaults_are_kafkametrics_ones() {
    let c = parse("{}").unwrap();
    assert_eq!(c.brokers, vec!["localhost:9092".to_string()]);
    assert_eq!(c.collection_interval, config::DEFAULT_INTERVAL);
    assert_eq!(c.timeout, config::DEFAULT_TIMEOUT);
    assert!(c.tls.is_none() && c.sasl.is_none());
    assert!(c.groups.allows("any-group"));
    assert!(c.topics.allows("orders"));
    assert!(!c.topics.allows("__consumer_offsets"));
    assert!(c.topics.allows("__kafka-obs-signals"));
    // An empty body is the defaults too.
    assert!(KafkaAdminConfig::parse(&serde_yaml_ng::Value::Null).is_ok());
    let _ = RawConfig::default();
}

#[test]
fn include_exclude_and_kafkametrics_match_spellings() {
    let c = parse(
        "{groups: {include: ['^orders-'], exclude: ['-test$']}, topics: {include: [pay, ship]}}",
    )
    .unwrap();
    assert!(c.groups.allows("orders-eu"));
    assert!(!c.groups.allows("orders-eu-test"));
    assert!(!c.groups.allows("billing"));
    assert!(c.topics.allows("payments") && c.topics.allows("shipping"));
    assert!(!c.topics.allows("orders"));
    let c = parse("{group_match: '^a', topic_match: '^[^_].*$'}").unwrap();
    assert!(c.groups.allows("ab") && !c.groups.allows("ba"));
    assert!(c.topics.allows("orders") && !c.topics.allows("_private"));
}

#[test]
fn mistakes_name_their_key_path() {
    for (yaml, path) in [
        ("{brokers: []}", "brokers"),
        ("{brokers: [nohost]}", "brokers"),
        ("{collection_interval: 0s}", "collection_interval"),
        ("{timeout: 0s}", "timeout"),
        ("{collection_interval: ten}", "collection_interval"),
        ("{groups: {include: ['(']}}", "groups::include"),
        ("{topics: {exclude: ['[']}}", "topics::exclude"),
        ("{group_match: '('}", "group_match"),
        ("{group_match: a, groups: {include: [b]}}", "group_match"),
        ("{time_lag: {max_samples: 1}}", "time_lag::max_samples"),
        ("{auth: {sasl: {username: u}}}", "auth::sasl::username"),
        (
            "{auth: {sasl: {mechanism: SCRAM-SHA-512, username: u, password: p}}}",
            "auth::sasl::mechanism",
        ),
        ("{auth: {tls: {cert_file: /c.pem}}}", "auth::tls::cert_file"),
        ("{brokerz: [a:1]}", "brokerz"),
    ] {
        let e = parse(yaml).expect_err(yaml);
        assert_eq!(e.path, path, "{yaml}: {e}");
    }
}

#[test]
fn auth_block_is_the_kafka_components_one() {
    let c = parse(
        "{auth: {sasl: {username: u, password: p}, tls: {ca_file: /ca.pem, insecure_skip_verify: true}}}",
    )
    .unwrap();
    assert_eq!(
        c.sasl,
        Some(config::SaslPlain {
            username: "u".into(),
            password: "p".into()
        })
    );
    let tls = c.tls.unwrap();
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new("/ca.pem"))
    );
    assert!(tls.insecure_skip_verify);
    assert!(
        parse("{auth: {tls: {insecure: true}}}")
            .unwrap()
            .tls
            .is_none()
    );
}

#[test]
fn a_missing_ca_file_is_named_at_build() {
    let c = parse("{auth: {tls: {ca_file: /nonexistent/ca.pem}}}").unwrap();
    let e = c.dialer().expect_err("unreadable CA");
    assert_eq!(e.path, "auth::tls::ca_file", "{e}");
}

// ---- time lag -------------------------------------------------------------------------------

const S: u64 = 1_000_000_000;

#[test]
fn time_lag_interpolates_between_samples() {
    let mut t = Samples::default();
    t.record(100, 10 * S, 60);
    t.record(200, 20 * S, 60);
    t.record(300, 30 * S, 60);
    // Caught up (or past a stale end offset).
    assert_eq!(t.lag_seconds(300, 31 * S), Some(0.0));
    assert_eq!(t.lag_seconds(400, 31 * S), Some(0.0));
    // Exactly a sample: the end offset reached 200 at 20 s.
    assert_eq!(t.lag_seconds(200, 31 * S), Some(11.0));
    // Half way between 200 (20 s) and 300 (30 s): 25 s.
    assert_eq!(t.lag_seconds(250, 31 * S), Some(6.0));
    // Older than the table: extrapolated at 10 records per second.
    assert_eq!(t.lag_seconds(50, 31 * S), Some(26.0));
}

#[test]
fn time_lag_grows_with_wall_time_while_the_group_stands_still() {
    let mut t = Samples::default();
    for (i, offset) in [10, 20, 30].into_iter().enumerate() {
        t.record(offset, (i as u64 + 1) * S, 60);
    }
    let a = t.lag_seconds(20, 5 * S).unwrap();
    let b = t.lag_seconds(20, 9 * S).unwrap();
    assert_eq!(b - a, 4.0);
}

#[test]
fn an_unchanged_end_offset_keeps_its_first_time() {
    let mut t = Samples::default();
    t.record(10, S, 60);
    t.record(20, 2 * S, 60);
    t.record(20, 9 * S, 60);
    assert_eq!(t.len(), 2);
    // The log reached 20 at 2 s, not 9 s.
    assert_eq!(t.lag_seconds(15, 10 * S), Some(8.5));
}

#[test]
fn without_a_rate_the_table_age_is_the_lower_bound() {
    let mut t = Samples::default();
    t.record(10, 5 * S, 60);
    assert_eq!(t.lag_seconds(3, 8 * S), Some(3.0));
    assert_eq!(Samples::default().lag_seconds(3, 8 * S), None);
}

#[test]
fn tables_are_bounded_and_restart_after_a_topic_is_recreated() {
    let mut t = Samples::default();
    for i in 0..100 {
        t.record(i * 10, i as u64 * S, 8);
    }
    assert_eq!(t.len(), 8);
    t.record(5, 200 * S, 8);
    assert_eq!(t.len(), 1);

    let mut tables = TimeLagTables::new(4);
    for p in 0..3 {
        for i in 0..10 {
            tables.record("t", p, i, i as u64 * S);
        }
    }
    assert_eq!(tables.samples(), 12);
    tables.retain(|_, p| p == 1);
    assert_eq!(tables.samples(), 4);
    assert!(tables.lag_seconds("t", 0, 0, S).is_none());
}

// ---- reply checks ---------------------------------------------------------------------------

fn reply_bytes(correlation_id: i32, version: i16, body: &MetadataResponse) -> BytesMut {
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, MetadataResponse::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf
}

#[test]
fn a_reply_is_checked_before_it_is_believed() {
    let mut body = MetadataResponse::default();
    body.controller_id = kafka_protocol::messages::BrokerId(7);
    let good = reply_bytes(5, 12, &body).freeze();
    let decoded = decode_response::<MetadataRequest>(good.clone(), 12, 5).unwrap();
    assert_eq!(decoded.controller_id.0, 7);
    // Another request's answer.
    let e = decode_response::<MetadataRequest>(good.clone(), 12, 6).unwrap_err();
    assert!(e.contains("answers request 5"), "{e}");
    // Cut short: the shape walk finds it before the decoder.
    let e = decode_response::<MetadataRequest>(good.slice(..good.len() - 3), 12, 5).unwrap_err();
    assert!(e.contains("does not fit version 12"), "{e}");
    // Bytes left over: read at the wrong version, or garbage appended.
    let mut longer = BytesMut::from(&good[..]);
    longer.put_slice(b"junk");
    let e = decode_response::<MetadataRequest>(longer.freeze(), 12, 5).unwrap_err();
    assert!(e.contains("left over"), "{e}");
    // Empty.
    assert!(decode_response::<MetadataRequest>(Bytes::new(), 12, 5).is_err());
}

#[test]
fn request_frames_carry_their_length() {
    let frame = encode_request(
        &MetadataRequest::default(),
        12,
        3,
        &StrBytes::from_static_str("t"),
    )
    .unwrap();
    let len = i32::from_be_bytes(frame[..4].try_into().unwrap());
    assert_eq!(len as usize, frame.len() - 4);
    // api key 3 (Metadata), version 12, correlation id 3.
    assert_eq!(&frame[4..12], &[0, 3, 0, 12, 0, 0, 0, 3]);
}

#[test]
fn member_assignments_decode_and_garbage_is_refused() {
    let mut a = ConsumerProtocolAssignment::default();
    let mut tp = TopicPartition::default();
    tp.topic = TopicName(StrBytes::from_static_str("orders"));
    tp.partitions = vec![0, 2, 5];
    a.assigned_partitions = vec![tp];
    for version in [0i16, 1, 3] {
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        a.encode(&mut buf, version).unwrap();
        assert_eq!(assigned_partitions(buf.freeze()).unwrap(), 3, "v{version}");
    }
    assert!(assigned_partitions(Bytes::from_static(&[0])).is_err());
    assert!(assigned_partitions(Bytes::from_static(&[0xff, 0xff, 1, 2])).is_err());
    assert!(assigned_partitions(Bytes::from_static(&[0, 0, 0, 0, 0, 9, 0])).is_err());
}

// ---- conversion -----------------------------------------------------------------------------

fn snapshot() -> Snapshot {
    Snapshot {
        time_ns: 42,
        cluster_id: Some("c-1".into()),
        controller: 2,
        brokers: vec![
            Broker {
                id: 1,
                address: "k1:9092".into(),
            },
            Broker {
                id: 2,
                address: "k2:9092".into(),
            },
        ],
        topics: vec![Topic {
            name: "orders".into(),
            partitions: vec![
                Partition {
                    index: 0,
                    leader: 1,
                    replicas: vec![1, 2],
                    isr: vec![1, 2],
                    offline: vec![],
                    oldest_offset: Some(3),
                    end_offset: Some(100),
                },
                Partition {
                    index: 1,
                    leader: 1,
                    replicas: vec![2, 1],
                    isr: vec![1],
                    offline: vec![2],
                    oldest_offset: Some(0),
                    end_offset: Some(50),
                },
            ],
        }],
        groups: vec![Group {
            id: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            members: vec![
                Member {
                    client_id: "c".into(),
                    host: "/10.0.0.1".into(),
                    assigned: 1,
                },
                Member {
                    client_id: "c".into(),
                    host: "/10.0.0.1".into(),
                    assigned: 1,
                },
            ],
            committed: vec![
                Committed {
                    topic: "orders".into(),
                    partition: 1,
                    offset: 40,
                    lag: Some(10),
                    time_lag_seconds: Some(2.5),
                },
                Committed {
                    topic: "orders".into(),
                    partition: 0,
                    offset: 90,
                    lag: Some(10),
                    time_lag_seconds: Some(1.0),
                },
            ],
            described: true,
        }],
    }
}

/// (metric, attributes as `k=v` joined by `,`) -> value, over a request.
fn points(
    req: &opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
) -> Vec<(String, String, f64)> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
    let mut out = Vec::new();
    for m in &req.resource_metrics[0].scope_metrics[0].metrics {
        let Some(Data::Gauge(g)) = &m.data else {
            panic!("{} is not a gauge", m.name)
        };
        for p in &g.data_points {
            assert_eq!(p.time_unix_nano, 42);
            let attrs: Vec<String> = p
                .attributes
                .iter()
                .map(|kv| {
                    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(V::StringValue(s)) => s.clone(),
                        Some(V::IntValue(i)) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    format!("{}={v}", kv.key)
                })
                .collect();
            let v = match p.value {
                Some(Value::AsInt(i)) => i as f64,
                Some(Value::AsDouble(d)) => d,
                None => f64::NAN,
            };
            out.push((m.name.clone(), attrs.join(","), v));
        }
    }
    out
}

#[test]
fn snapshot_becomes_kafkametrics_gauges() {
    use kafka_obs_kafka_client::admin_metrics as m;
    let res = resource(Some("prod"), Some("c-1"), &["k1:9092".into()]);
    let req = snapshot_to_otlp(&snapshot(), res, "k1:9092");
    let attrs = &req.resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(attrs[0].key, m::RESOURCE_CLUSTER);
    let p = points(&req);
    let get = |name: &str, attrs: &str| {
        p.iter()
            .find(|(n, a, _)| n == name && a == attrs)
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no {name}{{{attrs}}} in {p:#?}"))
    };
    assert_eq!(get(m::BROKERS, ""), 2.0);
    assert_eq!(get(m::CONTROLLER, ""), 2.0);
    assert_eq!(get(m::TOPIC_PARTITIONS, "topic=orders"), 2.0);
    assert_eq!(
        get(m::PARTITION_CURRENT_OFFSET, "topic=orders,partition=0"),
        100.0
    );
    assert_eq!(
        get(m::PARTITION_OLDEST_OFFSET, "topic=orders,partition=0"),
        3.0
    );
    assert_eq!(
        get(m::PARTITION_REPLICAS_IN_SYNC, "topic=orders,partition=1"),
        1.0
    );
    assert_eq!(
        get(m::PARTITION_OFFLINE_REPLICAS, "topic=orders,partition=1"),
        1.0
    );
    assert_eq!(
        get(m::PARTITION_PREFERRED_LEADER, "topic=orders,partition=0"),
        1.0
    );
    assert_eq!(
        get(m::PARTITION_PREFERRED_LEADER, "topic=orders,partition=1"),
        0.0
    );
    // Broker 1 is preferred for partition 0 and leads it; broker 2 is preferred for
    // partition 1, which broker 1 leads.
    assert_eq!(get(m::BROKER_PREFERRED_PARTITIONS, "broker.id=1"), 1.0);
    assert_eq!(get(m::BROKER_PREFERRED_PARTITIONS_LED, "broker.id=1"), 1.0);
    assert_eq!(get(m::BROKER_PREFERRED_PARTITIONS, "broker.id=2"), 1.0);
    assert_eq!(get(m::BROKER_PREFERRED_PARTITIONS_LED, "broker.id=2"), 0.0);
    assert_eq!(get(m::GROUP_MEMBERS, "group=g"), 2.0);
    assert_eq!(get(m::GROUP_STATE, "group=g,state=Stable"), 1.0);
    assert_eq!(
        get(
            m::GROUP_CLIENT_MEMBERS,
            "group=g,client.id=c,client.host=/10.0.0.1"
        ),
        2.0
    );
    assert_eq!(get(m::GROUP_COMMITTED_PARTITIONS, "group=g"), 2.0);
    assert_eq!(get(m::GROUP_LAG, "group=g,topic=orders,partition=1"), 10.0);
    assert_eq!(
        get(m::GROUP_TIME_LAG, "group=g,topic=orders,partition=1"),
        2.5
    );
    assert_eq!(get(m::GROUP_LAG_SUM, "group=g,topic=orders"), 20.0);
    assert_eq!(get(m::GROUP_OFFSET_SUM, "group=g,topic=orders"), 130.0);
    assert_eq!(get(TARGET_UP_NAME, "endpoint=k1:9092"), 1.0);
    // Offsets come out sorted by topic and partition.
    let order: Vec<&str> = p
        .iter()
        .filter(|(n, _, _)| n == m::GROUP_OFFSET)
        .map(|(_, a, _)| a.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "group=g,topic=orders,partition=0",
            "group=g,topic=orders,partition=1"
        ]
    );
}

const TARGET_UP_NAME: &str = crate::jmx::TARGET_UP;

#[test]
fn a_failed_poll_says_down_and_the_resource_falls_back() {
    let res = resource(None, None, &["k1:9092".into(), "k2:9092".into()]);
    let attrs = &res.attributes;
    assert_eq!(
        format!("{:?}", attrs[0].value),
        format!(
            "{:?}",
            Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        "k1:9092,k2:9092".into()
                    )
                )
            })
        )
    );
    let req = failed_poll(res, "k1:9092,k2:9092", 42);
    let p = points(&req);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, TARGET_UP_NAME);
    assert_eq!(p[0].2, 0.0);
}

// ---- reply shapes ---------------------------------------------------------------------------

fn framed<Req: kafka_protocol::protocol::Request>(response: &Req::Response, version: i16) -> Bytes {
    let mut header = ResponseHeader::default();
    header.correlation_id = 9;
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, Req::Response::header_version(version))
        .unwrap();
    response.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// Every reply, with elements at every nesting level, encoded by `kafka-protocol` at every
/// version we ask for, passes the shape walk and decodes.
#[test]
fn reply_shapes_match_the_crates_encoder_at_every_version_we_send() {
    use kafka_protocol::messages::*;
    let mut md = MetadataResponse::default();
    md.brokers = vec![metadata_response::MetadataResponseBroker::default(); 2];
    let mut part = metadata_response::MetadataResponsePartition::default();
    part.replica_nodes = vec![BrokerId(1), BrokerId(2)];
    part.isr_nodes = vec![BrokerId(1)];
    part.offline_replicas = vec![BrokerId(2)];
    let mut topic = metadata_response::MetadataResponseTopic::default();
    topic.name = Some(TopicName(StrBytes::from_static_str("t")));
    topic.partitions = vec![part.clone(), part];
    md.topics = vec![topic];
    for v in 9..=12 {
        let mut md = md.clone();
        if v > 10 {
            md.cluster_authorized_operations = i32::MIN;
        }
        decode_response::<MetadataRequest>(framed::<MetadataRequest>(&md, v), v, 9)
            .unwrap_or_else(|e| panic!("Metadata v{v}: {e}"));
    }
    let mut lo = ListOffsetsResponse::default();
    let mut t = list_offsets_response::ListOffsetsTopicResponse::default();
    t.partitions = vec![list_offsets_response::ListOffsetsPartitionResponse::default(); 3];
    lo.topics = vec![t];
    for v in 6..=7 {
        decode_response::<ListOffsetsRequest>(framed::<ListOffsetsRequest>(&lo, v), v, 9)
            .unwrap_or_else(|e| panic!("ListOffsets v{v}: {e}"));
    }
    let mut lg = ListGroupsResponse::default();
    lg.groups = vec![list_groups_response::ListedGroup::default(); 2];
    for v in 3..=4 {
        decode_response::<ListGroupsRequest>(framed::<ListGroupsRequest>(&lg, v), v, 9)
            .unwrap_or_else(|e| panic!("ListGroups v{v}: {e}"));
    }
    let mut dg = DescribeGroupsResponse::default();
    let mut g = describe_groups_response::DescribedGroup::default();
    let mut member = describe_groups_response::DescribedGroupMember::default();
    member.member_assignment = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
    g.members = vec![member; 2];
    dg.groups = vec![g];
    decode_response::<DescribeGroupsRequest>(framed::<DescribeGroupsRequest>(&dg, 5), 5, 9)
        .unwrap();
    let mut of = OffsetFetchResponse::default();
    let mut ot = offset_fetch_response::OffsetFetchResponseTopic::default();
    ot.partitions = vec![offset_fetch_response::OffsetFetchResponsePartition::default(); 2];
    of.topics = vec![ot];
    for v in 6..=7 {
        decode_response::<OffsetFetchRequest>(framed::<OffsetFetchRequest>(&of, v), v, 9)
            .unwrap_or_else(|e| panic!("OffsetFetch v{v}: {e}"));
    }
    let mut of8 = OffsetFetchResponse::default();
    let mut og = offset_fetch_response::OffsetFetchResponseGroup::default();
    let mut ots = offset_fetch_response::OffsetFetchResponseTopics::default();
    ots.partitions = vec![offset_fetch_response::OffsetFetchResponsePartitions::default(); 2];
    og.topics = vec![ots];
    of8.groups = vec![og.clone(), og];
    decode_response::<OffsetFetchRequest>(framed::<OffsetFetchRequest>(&of8, 8), 8, 9).unwrap();
    let mut av = ApiVersionsResponse::default();
    av.api_keys = vec![api_versions_response::ApiVersion::default(); 3];
    av.supported_features = vec![api_versions_response::SupportedFeatureKey::default()];
    decode_response::<ApiVersionsRequest>(framed::<ApiVersionsRequest>(&av, 3), 3, 9).unwrap();
    let mut sh = SaslHandshakeResponse::default();
    sh.mechanisms = vec![StrBytes::from_static_str("PLAIN"); 2];
    decode_response::<SaslHandshakeRequest>(framed::<SaslHandshakeRequest>(&sh, 1), 1, 9).unwrap();
    let sa = SaslAuthenticateResponse::default();
    decode_response::<SaslAuthenticateRequest>(framed::<SaslAuthenticateRequest>(&sa, 2), 2, 9)
        .unwrap();
}

/// A dozen bytes that announce 2^32 brokers (or 2^31 topics) are a bad reply, not an
/// allocation of hundreds of GB that would abort the process.
#[test]
fn an_array_longer_than_its_bytes_is_refused_before_decoding() {
    let header = |b: &mut BytesMut| {
        b.put_i32(9);
        b.put_u8(0); // no tagged fields
    };
    let mut b = BytesMut::new();
    header(&mut b);
    b.put_i32(0);
    b.put_slice(&[0xf0, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    let e = decode_response::<MetadataRequest>(b.freeze(), 12, 9).unwrap_err();
    assert!(e.contains("elements"), "{e}");
    // The classic array of SaslHandshake v1.
    let mut b = BytesMut::new();
    b.put_i32(9);
    b.put_i16(0);
    b.put_i32(i32::MAX);
    b.put_slice(b"xyz");
    let e = decode_response::<kafka_protocol::messages::SaslHandshakeRequest>(b.freeze(), 1, 9)
        .unwrap_err();
    assert!(e.contains("elements"), "{e}");
    // A member assignment announcing 2^31 topics.
    let mut a = BytesMut::new();
    a.put_i16(0);
    a.put_i32(i32::MAX);
    assert!(
        assigned_partitions(a.freeze())
            .unwrap_err()
            .contains("elements")
    );
    // A version we never ask for has no shape, so it is not decoded at all.
    let e =
        decode_response::<MetadataRequest>(Bytes::from_static(&[0, 0, 0, 9]), 1, 9).unwrap_err();
    assert!(e.contains("no reply shape"), "{e}");
}
