//! order-service's application log, as its Java logging would write it: one header line per
//! entry and, for a failed order, an `OrderValidationException` stack trace under it. The
//! scenario JVMs expose JMX only and write no log, so the story writes this file for them; the
//! demo's sidecar tails it with the `filelog` receiver exactly as it would a real service's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

/// The file the sidecar tails.
pub fn path(work: &Path) -> PathBuf {
    work.join("order-service.log")
}

/// Starts the log with one ordinary entry.
pub fn start(work: &Path) -> anyhow::Result<()> {
    let text = entry(0, false);
    std::fs::write(path(work), text)
        .with_context(|| format!("cannot write {}", path(work).display()))
}

/// Appends `count` failed orders and one ordinary entry after them (a multi-line entry ends
/// at the next entry's first line).
pub fn burst(work: &Path, first: u32, count: u32) -> anyhow::Result<()> {
    let mut text = String::new();
    for n in first..first + count {
        text.push_str(&entry(n, true));
    }
    text.push_str(&entry(first + count, false));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path(work))
        .with_context(|| format!("cannot append to {}", path(work).display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot append to {}", path(work).display()))
}

fn entry(order: u32, failed: bool) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let clock = format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    );
    if failed {
        format!(
            "{clock} ERROR [order-worker] placing order {order} failed\n\
             com.shop.orders.OrderValidationException: order {order} rejected: payment not confirmed\n\
             \tat com.shop.orders.OrderValidator.validate(OrderValidator.java:42)\n\
             \tat com.shop.orders.OrderService.place(OrderService.java:118)\n\
             Caused by: org.apache.kafka.common.errors.TimeoutException: Expiring 1 record(s) for orders-0\n\
             \tat org.apache.kafka.clients.producer.KafkaProducer.send(KafkaProducer.java:1001)\n"
        )
    } else {
        format!("{clock} INFO [order-worker] order {order} placed\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_appends_stack_traces_and_closes_with_an_ordinary_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        start(dir.path()).expect("start");
        burst(dir.path(), 1, 3).expect("burst");
        let text = std::fs::read_to_string(path(dir.path())).expect("read");
        assert_eq!(text.matches(" ERROR ").count(), 3);
        assert_eq!(text.matches("OrderValidationException").count(), 3);
        assert!(text.trim_end().ends_with("order 4 placed"), "{text}");
    }
}
