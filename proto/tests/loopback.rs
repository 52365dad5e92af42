//! The generated SignalAggregator client and server talk to each other over loopback TCP:
//! every envelope sent on the stream comes back as an ack naming its source and sequence.

use std::pin::Pin;

use futures::{Stream, StreamExt as _};
use kafka_obs_proto::aggregator::v1::{
    Ack, AckStatus, SignalEnvelope,
    signal_aggregator_client::SignalAggregatorClient,
    signal_aggregator_server::{SignalAggregator, SignalAggregatorServer},
};
use tonic::{Request, Response, Status, Streaming, transport::server::TcpIncoming};

struct AckEverything;

type AckStream = Pin<Box<dyn Stream<Item = Result<Ack, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl SignalAggregator for AckEverything {
    type StreamSignalsStream = AckStream;

    async fn stream_signals(
        &self,
        request: Request<Streaming<SignalEnvelope>>,
    ) -> Result<Response<AckStream>, Status> {
        let acks = request.into_inner().map(|envelope| {
            let envelope = envelope?;
            Ok(Ack {
                source_id: envelope.source_id,
                sequence: envelope.sequence,
                status: AckStatus::Accepted.into(),
                message: String::new(),
                cumulative: false,
            })
        });
        Ok(Response::new(Box::pin(acks)))
    }
}

#[tokio::test]
async fn every_streamed_envelope_is_acked_in_order() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SignalAggregatorServer::new(AckEverything))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    let mut client = SignalAggregatorClient::connect(format!("http://{addr}")).await?;
    let envelopes = (1..=50u64).map(|sequence| SignalEnvelope {
        source_id: "order-service-pod-abc123".into(),
        signal_type: "Queues.OVERFLOW".into(),
        timestamp_ns: 1_700_000_000_000_000_000,
        context: [("client".to_string(), "order-producer".to_string())].into(),
        payload: vec![1, 2, 3],
        sequence,
    });
    let response = client
        .stream_signals(futures::stream::iter(envelopes))
        .await?;
    let acks: Vec<Ack> = response
        .into_inner()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;

    let sequences: Vec<u64> = acks.iter().map(|ack| ack.sequence).collect();
    assert_eq!(sequences, (1..=50).collect::<Vec<_>>());
    assert!(
        acks.iter().all(|ack| ack.status() == AckStatus::Accepted
            && ack.source_id == "order-service-pod-abc123")
    );
    server.abort();
    Ok(())
}

#[test]
fn descriptor_set_names_both_packages() -> Result<(), prost::DecodeError> {
    use prost::Message as _;
    // Decode just enough of FileDescriptorSet (field 1: repeated FileDescriptorProto, whose
    // field 2 is `package`) to check both files are in it, without pulling in prost-types.
    #[derive(Clone, PartialEq, prost::Message)]
    struct File {
        #[prost(string, optional, tag = "2")]
        package: Option<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Set {
        #[prost(message, repeated, tag = "1")]
        file: Vec<File>,
    }
    let set = Set::decode(kafka_obs_proto::FILE_DESCRIPTOR_SET)?;
    let packages: Vec<_> = set.file.iter().filter_map(|f| f.package.clone()).collect();
    assert!(packages.contains(&"kafka_obs.signal.v1".to_string()));
    assert!(packages.contains(&"kafka_obs.aggregator.v1".to_string()));
    Ok(())
}
