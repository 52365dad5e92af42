//! The `brokers` list and `client_id` both Kafka components take, with the Collector's
//! defaults.

use kafka_obs_api::ComponentConfigError;

/// `brokers` when none are given (the Collector's default).
pub const DEFAULT_BROKER: &str = "localhost:9092";

/// `client_id` when none is given.
pub const DEFAULT_CLIENT_ID: &str = "kafka-obs";

/// Checks `brokers`: at least one, each `host:port`. Errors name the key `brokers`.
pub fn check_brokers(brokers: &[String]) -> Result<(), ComponentConfigError> {
    if brokers.is_empty() || brokers.iter().any(|b| b.trim().is_empty()) {
        return Err(ComponentConfigError::new(
            "brokers",
            "must not be empty; list host:port addresses such as [kafka-1:9092]",
        ));
    }
    if let Some(b) = brokers.iter().find(|b| !b.contains(':')) {
        return Err(ComponentConfigError::new(
            "brokers",
            format!("{b:?} is not host:port, such as kafka-1:9092"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(brokers: &[&str]) -> Vec<String> {
        brokers.iter().map(|b| b.to_string()).collect()
    }

    #[test]
    fn a_list_of_host_ports() {
        assert!(check_brokers(&list(&[DEFAULT_BROKER, "k2:9093"])).is_ok());
        for bad in [&[][..], &[" "], &["k1:9092", "k2"]] {
            let e = check_brokers(&list(bad)).expect_err("refused");
            assert_eq!(e.path, "brokers", "{bad:?}");
        }
    }
}
