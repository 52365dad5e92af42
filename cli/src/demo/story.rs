//! The demo's story (the seed's "Demo Enhancement Plan"): what each service JVM plays, when.
//!
//! Durations are for `--speed 1` (about three minutes); the story divides them by
//! the speed. Each chapter sends scenario commands (scenario/README.md) to the JVMs it names.
//! The last chapter, recovery, is long enough for the whole way back: the JVMs ease to normal
//! in five ticks, the rules recover, the central shows the better status after `clear_after`
//! and closes the incident after `close_after` (config.rs scales both with the speed); a test
//! below checks that sum against the chapter.

use std::time::Duration;

/// The JVMs of the story.
pub const ORDER: &str = "order-service";
pub const INVENTORY: &str = "inventory-service";
pub const BROKER: &str = "broker-1";

/// Producer buffer 97 % full (3 % of the 32 MiB `buffer.memory` available), pinned while the
/// next phase plays so the pressure and the failures it causes overlap, as in the seed.
/// inventory-service's container memory: normal, and near its limit (container pack CR1:
/// DEGRADED at 90 %).
pub const MEMORY_NORMAL: f64 = 0.45;
const MEMORY_NEAR_LIMIT: f64 = 0.94;

const PIN_BUFFER_FULL: &str = "set kafka.producer:type=producer-metrics,client-id=order-producer buffer-available-bytes 1006632";

/// The recovery chapter's length at `--speed 1`.
const RECOVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Chapter {
    pub title: &'static str,
    /// What the operator should see, shown under the progress line.
    pub expect: &'static str,
    pub length: Duration,
    pub commands: Vec<(&'static str, &'static str)>,
    /// Failed orders written to order-service's application log at the chapter's start
    /// (`applog.rs`; the sidecar tails it with `filelog`).
    pub failed_orders: u32,
    /// inventory-service's container memory, as a share of its limit, from the chapter's
    /// start (`cgroup.rs`; the sidecar reads it with the `cgroup` receiver).
    pub inventory_memory: Option<f64>,
}

pub fn chapters() -> Vec<Chapter> {
    let s = Duration::from_secs;
    vec![
        Chapter {
            title: "normal traffic",
            expect: "every cell STABLE, situations NORMAL",
            length: s(15),
            commands: vec![],
            failed_orders: 0,
            inventory_memory: None,
        },
        Chapter {
            title: "broker-1 loses in-sync replicas",
            expect: "broker-1: under-replicated partitions (broker JMX sees this)",
            length: s(10),
            commands: vec![(BROKER, "phase under-replicated")],
            failed_orders: 0,
            inventory_memory: None,
        },
        Chapter {
            title: "producer buffer pressure in order-service",
            expect: "order-producer: buffer filling, then full (only the client's JMX sees this)",
            length: s(20),
            commands: vec![(ORDER, "phase buffer-pressure")],
            failed_orders: 0,
            inventory_memory: None,
        },
        Chapter {
            title: "order validation failures",
            expect: "order-service: an OrderValidationException burst in its log (filelog -> E1); the incident chain explains it",
            length: s(15),
            commands: vec![(ORDER, PIN_BUFFER_FULL), (ORDER, "phase error-burst")],
            failed_orders: 12,
            // Memory near the limit before the lag spike: what slows the consumer down.
            inventory_memory: Some(MEMORY_NEAR_LIMIT),
        },
        Chapter {
            title: "consumer lag spike in inventory-service",
            expect: "inventory-consumer: records-lag-max jumps, then drains, after its container's memory neared the limit",
            length: s(20),
            commands: vec![
                (ORDER, "unset all"),
                (ORDER, "phase normal"),
                (INVENTORY, "phase lag-spike"),
            ],
            failed_orders: 0,
            inventory_memory: None,
        },
        Chapter {
            title: "rebalance storm: consumers added and removed",
            expect: "inventory-consumer: repeated rebalances, partitions revoked and reassigned",
            length: s(15),
            commands: vec![(INVENTORY, "phase rebalance-storm")],
            failed_orders: 0,
            inventory_memory: Some(MEMORY_NORMAL),
        },
        Chapter {
            title: "request latency diverging (75 -> 500 ms), caught early",
            expect: "order-producer: latency trend DIVERGING before any threshold fires",
            length: s(20),
            commands: vec![
                (INVENTORY, "phase recovery"),
                (ORDER, "phase latency-divergence"),
            ],
            failed_orders: 0,
            inventory_memory: None,
        },
        Chapter {
            title: "recovery",
            expect: "every cell back to STABLE / NORMAL (the tree turns green) and incident #1 closes",
            length: RECOVERY,
            commands: vec![
                (ORDER, "phase recovery"),
                (INVENTORY, "phase recovery"),
                (BROKER, "phase recovery"),
            ],
            failed_orders: 0,
            inventory_memory: None,
        },
    ]
}

/// The whole story's length at `speed`.
pub fn total(chapters: &[Chapter], speed: f64) -> Duration {
    chapters.iter().map(|c| scaled(c.length, speed)).sum()
}

pub fn scaled(d: Duration, speed: f64) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() / speed.max(0.01))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_story_fits_in_three_minutes_and_ends_in_recovery() {
        let c = chapters();
        assert!(total(&c, 1.0) <= Duration::from_secs(180));
        assert_eq!(c.last().map(|c| c.title), Some("recovery"));
        assert_eq!(total(&c, 10.0), total(&c, 1.0) / 10);
    }

    /// The way back, in poll intervals (the demo's tick is its poll interval at every speed):
    /// five ticks of easing to normal, a few polls for the rules to agree (trend settling,
    /// hysteresis, confidence), then the central's damping and incident close. With room to
    /// spare for a loaded machine, it must fit in the recovery chapter.
    #[test]
    fn the_recovery_chapter_is_long_enough_for_green_and_the_close() {
        for speed in [1.0, 4.0, 10.0] {
            let interval = scaled(Duration::from_secs(2), speed);
            let w = crate::demo::config::Windows::for_interval(interval);
            let ease = interval * 5;
            let rules = interval * 4;
            let needed = ease + rules + w.clear_after + w.close_after;
            let chapter = scaled(RECOVERY, speed);
            assert!(
                needed * 5 / 4 <= chapter,
                "speed {speed}: recovery needs about {needed:?}, the chapter is {chapter:?}"
            );
        }
    }
}
