//! The watched process, from `/proc`: finding it (pid, pid file, command line), its identity
//! (pid and start time: a restart gives a new start time, and usually a new pid), its open
//! file descriptors and their limit.
//!
//! Restarts are counted here, by comparing identities between polls: the first sight is a
//! baseline, and a process that vanished and came back different counts once. A process we
//! cannot see (no shared process namespace, another user's `/proc/<pid>/fd`) is reported as
//! not visible, never as a restart.

use std::path::{Path, PathBuf};

use super::config::ProcessMatch;

/// What makes one run of a process different from the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub pid: u32,
    /// `/proc/<pid>/stat` field 22, in clock ticks since boot.
    pub start_ticks: u64,
}

/// One poll of the watched process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessReading {
    pub identity: Option<Identity>,
    pub open_fds: Option<u64>,
    /// The soft `Max open files`; `None` for unlimited or unreadable.
    pub fd_limit: Option<u64>,
    /// Why the process (or part of it) could not be read.
    pub problem: Option<String>,
}

/// Finds and reads the watched process, and counts its restarts.
#[derive(Debug)]
pub struct Watcher {
    proc_dir: PathBuf,
    matcher: ProcessMatch,
    own_pid: u32,
    last: Option<Identity>,
    restarts: u64,
}

impl Watcher {
    pub fn new(root: &Path, matcher: ProcessMatch) -> Self {
        Self {
            proc_dir: root.join("proc"),
            matcher,
            own_pid: std::process::id(),
            last: None,
            restarts: 0,
        }
    }

    /// Restarts seen since the first sight of the process.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// True once the process has been seen.
    pub fn seen(&self) -> bool {
        self.last.is_some()
    }

    /// The pid of the current run, if seen.
    pub fn pid(&self) -> Option<u32> {
        self.last.map(|i| i.pid)
    }

    /// Reads the process once; a new identity after the first counts as a restart.
    pub fn poll(&mut self) -> ProcessReading {
        let mut reading = ProcessReading::default();
        let pid = match self.find() {
            Ok(pid) => pid,
            Err(problem) => {
                reading.problem = Some(problem);
                return reading;
            }
        };
        let dir = self.proc_dir.join(pid.to_string());
        match std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| start_ticks(&s))
        {
            Some(start_ticks) => {
                let identity = Identity { pid, start_ticks };
                if let Some(last) = self.last
                    && last != identity
                {
                    self.restarts += 1;
                }
                self.last = Some(identity);
                reading.identity = Some(identity);
            }
            None => {
                reading.problem = Some(format!(
                    "{} is not readable or not a process's stat line",
                    dir.join("stat").display()
                ));
                return reading;
            }
        }
        match std::fs::read_dir(dir.join("fd")) {
            Ok(entries) => reading.open_fds = Some(entries.filter(|e| e.is_ok()).count() as u64),
            Err(e) => {
                reading.problem = Some(format!(
                    "cannot list {}: {e} (run as the same user as the process, or with CAP_SYS_PTRACE)",
                    dir.join("fd").display()
                ));
            }
        }
        reading.fd_limit = std::fs::read_to_string(dir.join("limits"))
            .ok()
            .and_then(|s| open_files_limit(&s));
        reading
    }

    fn find(&self) -> Result<u32, String> {
        let alive = |pid: u32| self.proc_dir.join(pid.to_string()).join("stat").is_file();
        match &self.matcher {
            ProcessMatch::Pid(pid) => {
                if alive(*pid) {
                    Ok(*pid)
                } else {
                    Err(format!(
                        "no process {pid} under {} (does this container share the pod's process namespace, shareProcessNamespace: true?)",
                        self.proc_dir.display()
                    ))
                }
            }
            ProcessMatch::PidFile(file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read pid file {}: {e}", file.display()))?;
                let pid: u32 = text.trim().parse().map_err(|_| {
                    format!(
                        "pid file {} holds `{}`, not a pid",
                        file.display(),
                        text.trim().chars().take(40).collect::<String>()
                    )
                })?;
                if alive(pid) {
                    Ok(pid)
                } else {
                    Err(format!(
                        "the pid file {} names {pid}, which is not running or not visible here",
                        file.display()
                    ))
                }
            }
            ProcessMatch::CommandLine(pattern) => {
                // Keep the current run while it still matches: a scan per poll only when it
                // is gone.
                if let Some(pid) = self.pid()
                    && alive(pid)
                    && self.command_line(pid).is_some_and(|c| pattern.is_match(&c))
                {
                    return Ok(pid);
                }
                let mut pids: Vec<u32> = std::fs::read_dir(&self.proc_dir)
                    .map_err(|e| {
                        format!(
                            "cannot list {}: {e} (is root_path right?)",
                            self.proc_dir.display()
                        )
                    })?
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .filter(|pid| *pid != self.own_pid)
                    .collect();
                pids.sort_unstable();
                pids.into_iter()
                    .find(|pid| self.command_line(*pid).is_some_and(|c| pattern.is_match(&c)))
                    .ok_or_else(|| {
                        format!(
                            "no process under {} has a command line matching `{}` (does this container share the pod's process namespace, shareProcessNamespace: true?)",
                            self.proc_dir.display(),
                            pattern.as_str()
                        )
                    })
            }
        }
    }

    /// The process's arguments joined by spaces (`None` for kernel threads and the unreadable).
    fn command_line(&self, pid: u32) -> Option<String> {
        let raw = std::fs::read(self.proc_dir.join(pid.to_string()).join("cmdline")).ok()?;
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        (!args.is_empty()).then(|| args.join(" "))
    }
}

/// Field 22 (`starttime`) of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are counted after the
/// last `)`.
pub fn start_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After `)` come field 3 (state) onwards: starttime is the 20th of them.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The soft limit of `Max open files` in a `/proc/<pid>/limits` table.
pub fn open_files_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (java (main) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 30 0 987654 1000 200 18446744073709551615";
        assert_eq!(start_ticks(stat), Some(987_654));
        assert_eq!(start_ticks("4242 (java) S 1"), None);
        assert_eq!(start_ticks("garbage"), None);
    }

    #[test]
    fn the_soft_open_files_limit_is_read_and_unlimited_is_none() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63704                63704                processes \nMax open files            1024                 524288               files     \n";
        assert_eq!(open_files_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(open_files_limit(unlimited), None);
    }
}
