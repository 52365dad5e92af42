//! A process's resident set over time, for the soak and load harnesses: samples of `VmRSS`
//! from `/proc/<pid>/status` and what a reader wants from them (start, min, max, end and the
//! least-squares slope, over the whole run and over its second half, after warm-up); a process's peak resident set and CPU time, for the side-by-side benches.

use std::time::{Duration, Instant};

/// `VmRSS` of a process in KiB, or `None` when it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident set (`VmHWM`) of a process in KiB, or `None` when it is gone.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) a process has used so far, in seconds, or `None` when it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (which may hold spaces and parentheses): state is field 3,
    // utime field 14, stime field 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some((field(14)? + field(15)?) / clock_ticks_per_second())
}

/// The unit of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux when it cannot say).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// RSS samples of one process, each with its time since the series began.
#[derive(Debug, Clone)]
pub struct RssSeries {
    began: Instant,
    samples: Vec<(Duration, u64)>,
}

impl Default for RssSeries {
    fn default() -> Self {
        Self::new()
    }
}

/// What a series says, in KiB (slopes in KiB per hour).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RssSummary {
    pub samples: usize,
    pub start: u64,
    pub min: u64,
    pub max: u64,
    pub end: u64,
    pub slope_per_hour: f64,
    pub second_half_slope_per_hour: f64,
}

impl RssSeries {
    pub fn new() -> Self {
        Self {
            began: Instant::now(),
            samples: Vec::new(),
        }
    }

    /// Takes one sample of `pid`; returns it, or `None` when the process is gone.
    pub fn sample(&mut self, pid: u32) -> Option<u64> {
        let kib = rss_kib(pid)?;
        self.push(self.began.elapsed(), kib);
        Some(kib)
    }

    /// Adds a sample taken at `at` since the series began.
    pub fn push(&mut self, at: Duration, kib: u64) {
        self.samples.push((at, kib));
    }

    pub fn samples(&self) -> &[(Duration, u64)] {
        &self.samples
    }

    /// The figures, or `None` before the first sample.
    pub fn summary(&self) -> Option<RssSummary> {
        let (_, start) = *self.samples.first()?;
        let (_, end) = *self.samples.last()?;
        let values = self.samples.iter().map(|s| s.1);
        Some(RssSummary {
            samples: self.samples.len(),
            start,
            min: values.clone().min()?,
            max: values.max()?,
            end,
            slope_per_hour: slope_per_hour(&self.samples),
            second_half_slope_per_hour: slope_per_hour(&self.samples[self.samples.len() / 2..]),
        })
    }
}

/// Least-squares slope of KiB over time, per hour; 0 for fewer than two distinct times.
fn slope_per_hour(samples: &[(Duration, u64)]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let xs = samples.iter().map(|s| s.0.as_secs_f64() / 3600.0);
    let ys = samples.iter().map(|s| s.1 as f64);
    let mean_x = xs.clone().sum::<f64>() / n;
    let mean_y = ys.clone().sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for (x, y) in xs.zip(ys) {
        cov += (x - mean_x) * (y - mean_y);
        var += (x - mean_x) * (x - mean_x);
    }
    if var == 0.0 { 0.0 } else { cov / var }
}

impl std::fmt::Display for RssSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |k: u64| k as f64 / 1024.0;
        write!(
            f,
            "start {:.1} MiB, min {:.1}, max {:.1}, end {:.1} ({} samples); slope {:+.2} MiB/h, second half {:+.2} MiB/h",
            mib(self.start),
            mib(self.min),
            mib(self.max),
            mib(self.end),
            self.samples,
            self.slope_per_hour / 1024.0,
            self.second_half_slope_per_hour / 1024.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_line_has_its_slope() {
        let mut s = RssSeries::new();
        // 100 KiB per minute = 6000 KiB per hour, second half the same.
        for m in 0..10u64 {
            s.push(Duration::from_secs(60 * m), 1000 + 100 * m);
        }
        let sum = s.summary().unwrap();
        assert_eq!(
            (sum.start, sum.min, sum.max, sum.end),
            (1000, 1000, 1900, 1900)
        );
        assert!((sum.slope_per_hour - 6000.0).abs() < 1e-6, "{sum:?}");
        assert!((sum.second_half_slope_per_hour - 6000.0).abs() < 1e-6);
    }

    #[test]
    fn flat_series_has_no_slope_and_empty_has_no_summary() {
        assert!(RssSeries::new().summary().is_none());
        let mut s = RssSeries::new();
        s.push(Duration::from_secs(1), 5);
        s.push(Duration::from_secs(2), 5);
        assert_eq!(s.summary().unwrap().slope_per_hour, 0.0);
    }

    #[test]
    fn own_process_has_a_resident_set() {
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
