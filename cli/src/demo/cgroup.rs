//! inventory-service's container as the `cgroup` receiver reads it: a cgroup v2 layout
//! (`<root>/sys/fs/cgroup/{memory.current, memory.max, ...}`) that the story writes, so the
//! demo can play a memory-pressure episode. The JVMs' real cgroup is this machine's shared one,
//! which the demo can neither bound nor fill on purpose; the receiver reads this directory
//! through its `root_path` exactly as it reads a pod's (its tests read the machine's own).

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The container's memory limit (`memory.max`).
const LIMIT_BYTES: u64 = 512 * 1024 * 1024;

/// The `root_path` the receiver reads below.
pub fn root(work: &Path) -> PathBuf {
    work.join("inventory-container")
}

fn dir(work: &Path) -> PathBuf {
    root(work).join("sys/fs/cgroup")
}

fn write(work: &Path, file: &str, text: &str) -> anyhow::Result<()> {
    // Written beside and renamed, so a poll never reads half a file.
    let path = dir(work).join(file);
    let tmp = dir(work).join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

/// Lays out the container's cgroup with its memory at `used` of the limit.
pub fn start(work: &Path, used: f64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir(work))
        .with_context(|| format!("cannot create {}", dir(work).display()))?;
    write(work, "cgroup.controllers", "cpu memory pids\n")?;
    write(work, "memory.max", &format!("{LIMIT_BYTES}\n"))?;
    write(work, "memory.stat", "anon 0\nfile 0\ninactive_file 0\n")?;
    write(
        work,
        "memory.events",
        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    )?;
    write(
        work,
        "cpu.stat",
        "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
    )?;
    set_memory(work, used)
}

/// Sets the container's memory use to `used` of its limit.
pub fn set_memory(work: &Path, used: f64) -> anyhow::Result<()> {
    let bytes = (LIMIT_BYTES as f64 * used.clamp(0.0, 1.0)) as u64;
    write(work, "memory.current", &format!("{bytes}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_cgroup_v2_with_the_memory_asked_for() {
        let work = tempfile::tempdir().expect("temp dir");
        start(work.path(), 0.5).expect("start");
        set_memory(work.path(), 0.93).expect("set");
        let d = dir(work.path());
        assert!(d.join("cgroup.controllers").is_file());
        let current: u64 = std::fs::read_to_string(d.join("memory.current"))
            .expect("read")
            .trim()
            .parse()
            .expect("a number");
        assert_eq!(current, (LIMIT_BYTES as f64 * 0.93) as u64);
    }
}
