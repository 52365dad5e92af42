//! What the limiter measures: the process's live heap (RSS where the heap is not counted), and
//! the memory the process may use at most (its cgroup's limit when it has one, else the
//! machine's).

use std::io;

/// The memory the limiter compares with its limits: the live heap when the binary counts it
/// (`kafka_obs_api::heap`: RSS would stay high after the data is gone, so the limiter would
/// never reopen), else the resident set size.
pub fn process_memory_bytes() -> io::Result<u64> {
    match kafka_obs_api::heap::live_bytes() {
        Some(live) => Ok(live),
        None => process_rss_bytes(),
    }
}

/// The process's resident set size in bytes (`VmRSS` of `/proc/self/status`).
pub fn process_rss_bytes() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    kib_field(&status, "VmRSS:")
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other("/proc/self/status has no VmRSS line"))
}

/// The memory available to this process: the cgroup's limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`) when one is set, else the machine's `MemTotal`.
pub fn total_memory_bytes() -> io::Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let total = kib_field(&meminfo, "MemTotal:")
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other("/proc/meminfo has no MemTotal line"))?;
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    // "max" (v2) means no limit; v1 writes a huge number instead, which `min` discards.
    .filter_map(|text| text.trim().parse::<u64>().ok())
    .min();
    Ok(cgroup.map_or(total, |limit| limit.min(total)))
}

/// The number of a `Name:   1234 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rss_grows_with_what_the_process_holds() {
        let before = process_rss_bytes().unwrap();
        // 64 MiB, touched so the pages are resident.
        let held = vec![1u8; 64 << 20];
        let during = process_rss_bytes().unwrap();
        assert!(held.iter().map(|b| *b as u64).sum::<u64>() == 64 << 20);
        assert!(
            during >= before + (48 << 20),
            "before {before}, holding 64 MiB {during}"
        );
    }

    #[test]
    fn total_memory_is_at_least_what_we_use() {
        assert!(total_memory_bytes().unwrap() > process_rss_bytes().unwrap());
        assert_eq!(
            kib_field("MemTotal:     2048 kB\n", "MemTotal:"),
            Some(2048)
        );
    }
}
