//! The process' own figures under the Collector's `otelcol_process_*` names: uptime, CPU time,
//! resident memory and the closest equivalents we have of the Go runtime's heap figures.
//!
//! They are read from the kernel each time the registry is read (a scrape or a push), not
//! sampled on a timer, so a reading is never older than the request that asked for it.
//!
//! What stands in for the Go runtime's `MemStats` (Rust has no garbage-collected heap to ask,
//! the workspace forbids the `unsafe` that glibc's `mallinfo2` needs, and a counting global
//! allocator would tax every allocation):
//! - `otelcol_process_runtime_heap_alloc_bytes`: `RssAnon` from `/proc/self/status`, the
//!   resident anonymous memory: the allocator's live objects, plus what it freed but kept, plus
//!   thread stacks. An upper bound of Go's `HeapAlloc`, not the same figure.
//! - `otelcol_process_runtime_total_sys_memory_bytes`: the `data` field of `/proc/self/statm`
//!   (data segment, heap and private anonymous mappings, stacks): the memory obtained from the
//!   OS for data, as Go's `Sys` is.
//! - `otelcol_process_runtime_total_alloc_bytes` (cumulative bytes ever allocated) is not
//!   served: nothing counts it without a counting allocator.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use kafka_obs_api::Telemetry;
use kafka_obs_api::telemetry::otelcol;

/// Registers the process series and the hook that refreshes them; registering again is a
/// no-op. Memory series the kernel does not offer here (no `/proc`) are left out rather than
/// served as zero.
pub(crate) fn register(telemetry: &Telemetry) {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    let started = *STARTED.get_or_init(Instant::now);
    let uptime = telemetry.double_counter(
        otelcol::PROCESS_UPTIME,
        "Seconds since the collector started.",
        &[],
    );
    let cpu = telemetry.double_counter(
        otelcol::PROCESS_CPU_SECONDS,
        "Total CPU user and system time of the process, in seconds.",
        &[],
    );
    let memory = Memory::read().map(|_| {
        (
            telemetry.gauge(
                otelcol::PROCESS_MEMORY_RSS,
                "Resident set size of the process, in bytes.",
                &[],
            ),
            telemetry.gauge(
                otelcol::PROCESS_HEAP_ALLOC_BYTES,
                "Resident anonymous memory (RssAnon): allocated heap objects plus memory the allocator keeps, plus stacks. An upper bound of Go's HeapAlloc.",
                &[],
            ),
            telemetry.gauge(
                otelcol::PROCESS_TOTAL_SYS_MEMORY_BYTES,
                "Memory obtained from the OS for data (the data field of /proc/self/statm), in bytes.",
                &[],
            ),
        )
    });
    telemetry.on_read(
        "process",
        Arc::new(move || {
            uptime.set(started.elapsed().as_secs_f64());
            cpu.set(cpu_seconds());
            if let (Some((rss, heap, sys)), Some(now)) = (&memory, Memory::read()) {
                rss.set(now.rss);
                heap.set(now.anonymous);
                sys.set(now.data);
            }
        }),
    );
}

/// User and system CPU time of every thread of the process.
fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// One reading of the process' memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Memory {
    rss: i64,
    anonymous: i64,
    data: i64,
}

impl Memory {
    fn read() -> Option<Memory> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        Self::parse(&statm, &status, rustix::param::page_size())
    }

    /// `statm` is `size resident shared text lib data dt` in pages; `status` has `RssAnon:`
    /// in kB.
    fn parse(statm: &str, status: &str, page: usize) -> Option<Memory> {
        let pages: Vec<i64> = statm
            .split_whitespace()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let page = i64::try_from(page).ok()?;
        let anonymous_kb: i64 = status
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(Memory {
            rss: pages.get(1)? * page,
            anonymous: anonymous_kb * 1024,
            data: pages.get(5)? * page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statm_pages_and_status_kilobytes() {
        let status = "Name:\tkafka-obs\nRssAnon:\t    2048 kB\nRssFile:\t 10 kB\n";
        assert_eq!(
            Memory::parse("1000 300 50 10 0 120 0\n", status, 4096),
            Some(Memory {
                rss: 300 * 4096,
                anonymous: 2048 * 1024,
                data: 120 * 4096,
            })
        );
        assert_eq!(Memory::parse("1000 x", status, 4096), None);
        assert_eq!(Memory::parse("1 2 3 4 5 6 7", "Name: x\n", 4096), None);
    }

    #[test]
    fn readings_follow_the_process() {
        let telemetry = Telemetry::new();
        register(&telemetry);
        register(&telemetry);
        // Burn some CPU and hold some memory so both readings must move.
        let held: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let value = |name: &str| {
            telemetry
                .snapshot()
                .into_iter()
                .find(|s| s.name == name)
                .map(|s| s.value.as_f64())
        };
        let cpu = value(otelcol::PROCESS_CPU_SECONDS).unwrap_or_default();
        assert!(cpu > 0.0, "cpu {cpu}");
        let rss = value(otelcol::PROCESS_MEMORY_RSS).unwrap_or_default();
        assert!(rss >= held.len() as f64, "rss {rss} holds the 8 MiB");
        let heap = value(otelcol::PROCESS_HEAP_ALLOC_BYTES).unwrap_or_default();
        assert!(heap >= held.len() as f64 && heap <= rss, "heap {heap}");
        let sys = value(otelcol::PROCESS_TOTAL_SYS_MEMORY_BYTES).unwrap_or_default();
        assert!(sys >= heap, "sys {sys} heap {heap}");
        let first = value(otelcol::PROCESS_UPTIME).unwrap_or_default();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = value(otelcol::PROCESS_UPTIME).unwrap_or_default();
        assert!(second >= first + 0.019, "uptime {first} then {second}");
        assert_eq!(
            telemetry
                .snapshot()
                .iter()
                .filter(|s| s.name.starts_with("otelcol_process_"))
                .count(),
            5,
            "registered once"
        );
    }
}
