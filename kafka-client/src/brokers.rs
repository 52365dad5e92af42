//! The `brokers` list, `client_id` and `protocol_version` both Kafka components take, with the
//! Collector's defaults.

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

/// `protocol_version` (the Collector's `2.1.0`) as librdkafka properties. librdkafka asks a
/// broker which protocol versions it speaks (ApiVersionRequest, Kafka 0.10 and later), so
/// the version is its fallback for a broker that cannot answer; a broker older than 0.10
/// cannot, and librdkafka must be told not to ask. Errors name the key `protocol_version`.
pub fn protocol_version_properties(
    version: &str,
) -> Result<Vec<(String, String)>, ComponentConfigError> {
    let parts: Vec<&str> = version.trim().split('.').collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    let Some(numbers) = numbers.filter(|n| (2..=4).contains(&n.len())) else {
        return Err(ComponentConfigError::new(
            "protocol_version",
            format!("{version:?} is not a Kafka version such as 2.1.0"),
        ));
    };
    let version = version.trim().to_string();
    let mut props = vec![("broker.version.fallback".to_string(), version)];
    if numbers[0] == 0 && numbers[1] < 10 {
        props.push(("api.version.request".to_string(), "false".to_string()));
    }
    Ok(props)
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

    #[test]
    fn protocol_version_is_librdkafkas_fallback() {
        let props = protocol_version_properties("2.1.0").expect("valid");
        assert_eq!(
            props,
            vec![("broker.version.fallback".into(), "2.1.0".into())]
        );
        let old = protocol_version_properties("0.9.0.1").expect("valid");
        assert!(old.contains(&("api.version.request".into(), "false".into())));
        for bad in ["", "2", "two.one", "2.1.0.0.0", "2.-1"] {
            let e = protocol_version_properties(bad).expect_err(bad);
            assert_eq!(e.path, "protocol_version", "{bad:?}");
        }
    }
}
