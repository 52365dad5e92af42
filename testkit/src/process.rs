//! Child processes that cannot outlive the test that started them.
//!
//! [`ChildGuard`] owns a [`std::process::Child`] and kills and reaps it on drop, so a test that
//! panics half-way leaves no JVM, broker or collector behind. [`ChildGuard::terminate`] is the
//! polite stop (SIGTERM, then SIGKILL after a timeout) for tests that check graceful shutdown.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A child process that is killed (SIGKILL) and waited for when the guard is dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    /// Set once the child has been reaped, so drop does not signal a recycled pid.
    exited: Option<ExitStatus>,
}

impl ChildGuard {
    /// Takes ownership of an already spawned child.
    pub fn new(child: Child) -> Self {
        Self {
            child,
            exited: None,
        }
    }

    /// Spawns `command` and guards the child.
    pub fn spawn(command: &mut Command) -> io::Result<Self> {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start `{program}`: {e}")))?;
        Ok(Self::new(child))
    }

    /// The operating-system process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The guarded child, for taking its stdin/stdout/stderr handles.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.exited {
            return Ok(Some(status));
        }
        let status = self.child.try_wait()?;
        if status.is_some() {
            self.exited = status;
        }
        Ok(status)
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits at most `timeout` for the child to exit; `Ok(None)` when it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the child (no-op once it has been reaped).
    pub fn signal(&mut self, signal: Signal) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = i32::try_from(self.child.id())
            .map_err(|_| io::Error::other("child pid does not fit in pid_t"))?;
        kill(Pid::from_raw(pid), signal).map_err(io::Error::from)
    }

    /// Sends SIGTERM and waits at most `timeout` for the child to exit; if it has not, kills it
    /// with SIGKILL and returns `ErrorKind::TimedOut` (the child is reaped either way).
    pub fn terminate(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        if let Some(status) = self.wait_timeout(timeout)? {
            return Ok(status);
        }
        self.kill()?;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "process {} did not exit within {timeout:?} of SIGTERM; killed it",
                self.child.id()
            ),
        ))
    }

    /// Kills the child with SIGKILL and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        // `kill` fails only when the child already exited; `wait` then reaps it.
        let _ = self.child.kill();
        let status = self.child.wait()?;
        self.exited = Some(status);
        Ok(status)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn sleeper() -> ChildGuard {
        ChildGuard::spawn(Command::new("sleep").arg("30")).expect("spawn sleep")
    }

    fn alive(pid: u32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
    }

    #[test]
    fn drop_kills_the_child() {
        let guard = sleeper();
        let pid = guard.pid();
        assert!(alive(pid));
        drop(guard);
        assert!(!alive(pid), "process {pid} survived its guard");
    }

    #[test]
    fn drop_kills_the_child_on_panic() {
        let pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = pid.clone();
        let result = std::panic::catch_unwind(move || {
            let guard = sleeper();
            seen.store(guard.pid(), std::sync::atomic::Ordering::SeqCst);
            panic!("test failed half-way");
        });
        assert!(result.is_err());
        let pid = pid.load(std::sync::atomic::Ordering::SeqCst);
        assert_ne!(pid, 0);
        assert!(!alive(pid), "process {pid} survived a panicking test");
    }

    #[test]
    fn terminate_sends_sigterm() {
        let mut guard = sleeper();
        let status = guard
            .terminate(Duration::from_secs(5))
            .expect("sleep exits on SIGTERM");
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
        assert!(!guard.is_running());
    }

    #[test]
    fn terminate_kills_a_process_that_ignores_sigterm() {
        let mut guard = ChildGuard::spawn(
            Command::new("sh").args(["-c", "trap '' TERM; while :; do sleep 0.05; done"]),
        )
        .expect("spawn sh");
        // Let the shell install its trap before the signal arrives.
        thread::sleep(Duration::from_millis(200));
        let err = guard
            .terminate(Duration::from_millis(300))
            .expect_err("ignores SIGTERM");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(!guard.is_running());
    }

    #[test]
    fn spawn_names_a_missing_program() {
        let err = ChildGuard::spawn(&mut Command::new("/nonexistent/kafka-obs-peer"))
            .expect_err("no such program");
        assert!(
            err.to_string().contains("/nonexistent/kafka-obs-peer"),
            "{err}"
        );
    }
}
