//! Receivers: where data enters kafka-obs.
//!
//! Each receiver lives in its own module and is listed once in [`factories`]; the binary hands
//! that list to the config loader. Adding a receiver is adding a module and one line there.

use kafka_obs_api::ReceiverFactory;

pub mod jmx;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod otlp;
pub mod signals;

/// Every receiver type this crate provides, one line each.
pub fn factories() -> Vec<Box<dyn ReceiverFactory>> {
    vec![
        Box::new(otlp::OtlpReceiverFactory),
        Box::new(jmx::JmxReceiverFactory),
        Box::new(signals::SignalsReceiverFactory),
        #[cfg(feature = "kafka")]
        Box::new(kafka::KafkaReceiverFactory),
    ]
}
