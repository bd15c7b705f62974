//! Multi-process test support: re-executes the current test binary as a
//! child process running one "role", and lets the parent wait for the child
//! to reach a named point, then SIGKILL it there.
//!
//! Each test file that needs children defines one dispatcher test:
//!
//! ```ignore
//! #[test]
//! fn child_entry() {
//!     common::run_child(|role, args| match role {
//!         "hold_lock" => { /* ... */ }
//!         other => panic!("unknown role {other}"),
//!     });
//! }
//! ```
//!
//! In a normal test run `child_entry` sees no role and returns at once (it
//! is a dispatcher, not a test). The parent spawns `current_exe()` filtered to
//! exactly that test with `SHMSYNC_TEST_ROLE` set; the child runs the role and
//! exits the process with status 0 (or panics: non-zero).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROLE_ENV: &str = "SHMSYNC_TEST_ROLE";
const ARGS_ENV: &str = "SHMSYNC_TEST_ARGS";
const ENTRY_ENV: &str = "SHMSYNC_TEST_ENTRY";
/// A child announces a point by printing this prefix and the point's name.
const POINT_PREFIX: &str = "@@point ";

/// Runs the child role if this process was spawned as a child; otherwise
/// returns at once. Never returns in a child: it exits with status 0 after
/// the role returns.
pub fn run_child(role_fn: impl FnOnce(&str, &[String])) {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let args: Vec<String> = std::env::var(ARGS_ENV)
        .unwrap_or_default()
        .split('\u{1f}')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    role_fn(&role, &args);
    std::process::exit(0);
}

/// Announces that the child reached `point` (the parent may be waiting for
/// it in [`ChildProcess::wait_for`]).
pub fn reached(point: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{POINT_PREFIX}{point}").expect("stdout is the parent's pipe");
    out.flush().expect("flush stdout");
}

/// Blocks the calling child forever (until the parent kills it), without
/// spinning.
pub fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// SIGKILLs the calling process at once: a death with no unwinding, no
/// destructors and no atexit handlers, exactly like an OOM kill.
pub fn die_now() -> ! {
    // SAFETY: raise has no memory-safety preconditions.
    unsafe { libc::raise(libc::SIGKILL) };
    unreachable!("SIGKILL cannot be caught")
}

/// A unique name for a test segment, so parallel tests never collide.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("shmsync-test-{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A running child process.
pub struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    pid: u32,
}

/// Spawns the current test binary as a child that runs `role` with `args`,
/// dispatched by the test named `entry` (the test containing `run_child`).
pub fn spawn(entry: &str, role: &str, args: &[&str]) -> ChildProcess {
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args([entry, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE_ENV, role)
        .env(ARGS_ENV, args.join("\u{1f}"))
        .env(ENTRY_ENV, entry)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test process");
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped stdout");
    let lines = forward_points(stdout);
    ChildProcess { child, lines, pid }
}

fn forward_points(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(point) = line.strip_prefix(POINT_PREFIX) {
                if tx.send(point.to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

impl ChildProcess {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the child announces `point`; panics after `timeout` or if
    /// the child exits first.
    pub fn wait_for(&mut self, point: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(p) if p == point => return,
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("child {} did not reach {point:?} within {timeout:?}", self.pid)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait();
                    panic!("child {} exited ({status:?}) before reaching {point:?}", self.pid)
                }
            }
        }
    }

    /// SIGKILLs the child and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILLs the child but does not reap it: it stays a zombie, which is
    /// what a lock waiter sees while the dead process's parent is slow.
    pub fn kill_without_reaping(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the child to exit and returns its status; panics after
    /// `timeout` (killing the child).
    pub fn wait_timeout(mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("child {} did not exit within {timeout:?}", self.pid);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the child to exit and asserts it succeeded.
    pub fn expect_success(self, timeout: Duration) {
        let pid = self.pid;
        let status = self.wait_timeout(timeout);
        assert!(status.success(), "child {pid} failed: {status:?}");
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // Never leave a child behind when a test fails half-way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
