//! One cgroup's files: where they are (the v2 unified tree or the v1 per-controller mounts)
//! and the few values the receiver reports, read fresh on every poll.
//!
//! A file that is missing or unreadable leaves its values out (`None`) and is named in
//! [`CgroupReading::missing`]; a file whose content does not parse is named in
//! [`CgroupReading::invalid`]. Neither stops the poll: the receiver logs and counts them.

use std::path::{Path, PathBuf};

/// v1 reports "no limit" as a huge page-aligned number (`PAGE_COUNTER_MAX` pages); anything
/// from 2^62 bytes up is that.
const V1_NO_LIMIT: u64 = 1 << 62;

/// Where one cgroup's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2: one directory with every controller's files.
    V2 { dir: PathBuf },
    /// cgroup v1: a directory per controller.
    V1 {
        memory: PathBuf,
        cpu: PathBuf,
        cpuacct: PathBuf,
    },
}

impl Layout {
    pub fn version(&self) -> &'static str {
        match self {
            Self::V2 { .. } => "v2",
            Self::V1 { .. } => "v1",
        }
    }

    /// The directory holding the memory files (for logs).
    pub fn memory_dir(&self) -> &Path {
        match self {
            Self::V2 { dir } => dir,
            Self::V1 { memory, .. } => memory,
        }
    }
}

/// Finds the cgroup below `<root>/sys/fs/cgroup`: the one `configured` names, else the one
/// `proc_cgroup` (the text of `/proc/<pid>/cgroup`) names. A path that does not exist below
/// the mount (a cgroup namespace shows the container's own cgroup as `/`, or a sidecar sees
/// a path of the host's tree) falls back to the mount's root, which is then the container's.
pub fn locate(root: &Path, proc_cgroup: &str, configured: Option<&str>) -> Layout {
    let mount = root.join("sys/fs/cgroup");
    let below = |base: &Path, path: &str| {
        let dir = base.join(path.trim_start_matches('/'));
        if dir.is_dir() {
            dir
        } else {
            base.to_path_buf()
        }
    };
    if mount.join("cgroup.controllers").is_file() {
        let path = configured
            .map(str::to_owned)
            .or_else(|| {
                proc_cgroup
                    .lines()
                    .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
            })
            .unwrap_or_default();
        return Layout::V2 {
            dir: below(&mount, &path),
        };
    }
    let controller = |name: &str| {
        // `4:memory:/kubepods/...`, or `2:cpu,cpuacct:/...` with the mount named after both.
        let line = proc_cgroup.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            controllers
                .split(',')
                .any(|c| c == name)
                .then(|| (controllers.to_owned(), path.to_owned()))
        });
        let (controllers, path) = line.unwrap_or_else(|| (name.to_owned(), String::new()));
        let base = [mount.join(name), mount.join(&controllers)]
            .into_iter()
            .find(|d| d.is_dir())
            .unwrap_or_else(|| mount.join(name));
        below(&base, configured.unwrap_or(&path))
    };
    Layout::V1 {
        memory: controller("memory"),
        cpu: controller("cpu"),
        cpuacct: controller("cpuacct"),
    }
}

/// False when the cgroup `proc_cgroup` names (its memory controller's, on v1) is not below
/// the mount, so [`locate`] fell back to the mount's root.
pub fn is_mounted(layout: &Layout, proc_cgroup: &str) -> bool {
    let named = proc_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = match layout {
            Layout::V2 { .. } => controllers.is_empty(),
            Layout::V1 { .. } => controllers.split(',').any(|c| c == "memory"),
        };
        wanted.then_some(path)
    });
    let named = named.unwrap_or_default().trim_start_matches('/');
    !named.split('/').any(|p| p == "..") && layout.memory_dir().ends_with(named)
}

/// One poll of a cgroup's files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupReading {
    /// CPU time of every task in the cgroup (ns).
    pub cpu_time_ns: Option<u64>,
    /// CFS enforcement periods elapsed, and those in which the cgroup was throttled.
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ns: Option<u64>,
    pub memory_usage: Option<u64>,
    /// `None` when there is no limit (`max`, or v1's huge number).
    pub memory_limit: Option<u64>,
    /// Page cache the kernel reclaims first: usage minus this is the working set.
    pub inactive_file: Option<u64>,
    pub oom_kills: Option<u64>,
    /// Files that could not be read (missing, no permission).
    pub missing: Vec<PathBuf>,
    /// Files whose content did not parse.
    pub invalid: Vec<PathBuf>,
}

impl CgroupReading {
    /// Usage less the inactive page cache, as kubelet computes the working set.
    pub fn working_set(&self) -> Option<u64> {
        let usage = self.memory_usage?;
        Some(usage.saturating_sub(self.inactive_file.unwrap_or(0)))
    }

    /// Working set / limit, when there is a limit.
    pub fn limit_utilization(&self) -> Option<f64> {
        let limit = self.memory_limit.filter(|l| *l > 0)?;
        Some(self.working_set()? as f64 / limit as f64)
    }

    fn text(&mut self, path: PathBuf) -> Option<String> {
        match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(_) => {
                self.missing.push(path);
                None
            }
        }
    }

    /// A file holding one number.
    fn number(&mut self, path: PathBuf) -> Option<u64> {
        let text = self.text(path.clone())?;
        let parsed = text.trim().parse().ok();
        if parsed.is_none() {
            self.invalid.push(path);
        }
        parsed
    }

    /// A flat-keyed file (`key value` lines): the values of `keys`, in order.
    fn keyed<const N: usize>(&mut self, path: PathBuf, keys: [&str; N]) -> [Option<u64>; N] {
        let mut out = [None; N];
        let Some(text) = self.text(path.clone()) else {
            return out;
        };
        let mut bad = false;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let Some(i) = keys.iter().position(|k| *k == key) {
                match value.parse() {
                    Ok(v) => out[i] = Some(v),
                    Err(_) => bad = true,
                }
            }
        }
        if bad {
            self.invalid.push(path);
        }
        out
    }
}

/// Reads the cgroup's files once.
pub fn read(layout: &Layout) -> CgroupReading {
    let mut r = CgroupReading::default();
    match layout {
        Layout::V2 { dir } => {
            let [usage_us, periods, throttled, throttled_us] = r.keyed(
                dir.join("cpu.stat"),
                ["usage_usec", "nr_periods", "nr_throttled", "throttled_usec"],
            );
            r.cpu_time_ns = usage_us.map(|u| u.saturating_mul(1000));
            r.periods = periods;
            r.throttled_periods = throttled;
            r.throttled_ns = throttled_us.map(|u| u.saturating_mul(1000));
            r.memory_usage = r.number(dir.join("memory.current"));
            let max = dir.join("memory.max");
            if let Some(text) = r.text(max.clone()) {
                let text = text.trim();
                if text != "max" {
                    r.memory_limit = text.parse().ok();
                    if r.memory_limit.is_none() {
                        r.invalid.push(max);
                    }
                }
            }
            [r.inactive_file] = r.keyed(dir.join("memory.stat"), ["inactive_file"]);
            [r.oom_kills] = r.keyed(dir.join("memory.events"), ["oom_kill"]);
        }
        Layout::V1 {
            memory,
            cpu,
            cpuacct,
        } => {
            r.cpu_time_ns = r.number(cpuacct.join("cpuacct.usage"));
            [r.periods, r.throttled_periods, r.throttled_ns] = r.keyed(
                cpu.join("cpu.stat"),
                ["nr_periods", "nr_throttled", "throttled_time"],
            );
            r.memory_usage = r.number(memory.join("memory.usage_in_bytes"));
            r.memory_limit = r
                .number(memory.join("memory.limit_in_bytes"))
                .filter(|l| *l < V1_NO_LIMIT);
            // Hierarchical (`total_`) counts include child cgroups, as usage does.
            let [total, own] = r.keyed(
                memory.join("memory.stat"),
                ["total_inactive_file", "inactive_file"],
            );
            r.inactive_file = total.or(own);
            [r.oom_kills] = r.keyed(memory.join("memory.oom_control"), ["oom_kill"]);
        }
    }
    r
}
