//! Child roles: a test re-executes its own binary as a child process
//! running one "role", waits for the child to reach a named point, then
//! signals, kills or waits for it there.
//!
//! Each test file that needs children defines one dispatcher test:
//!
//! ```ignore
//! #[test]
//! fn child_entry() {
//!     support::run_child(|role, args| match role {
//!         "hold_lock" => { /* ... */ }
//!         other => panic!("unknown role {other}"),
//!     });
//! }
//! ```
//!
//! In a normal test run `child_entry` sees no role and returns at once (it
//! is a dispatcher, not a test). The parent spawns its own binary (see
//! [`crate::process::self_command`]) filtered to exactly that test with
//! `SHMSYNC_TEST_ROLE` set; the child runs the role and exits the process
//! with status 0 (or panics: non-zero).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{self_command, self_exe};

const ROLE_ENV: &str = "SHMSYNC_TEST_ROLE";
const ARGS_ENV: &str = "SHMSYNC_TEST_ARGS";
const ENTRY_ENV: &str = "SHMSYNC_TEST_ENTRY";
/// Set (to anything) when the role must run on the main thread.
const MAIN_THREAD_ENV: &str = "SHMSYNC_TEST_MAIN_THREAD";
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

/// A running child process.
pub struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    pid: u32,
}

/// Spawns the current test binary as a child that runs `role` with `args`,
/// dispatched by the test named `entry` (the test containing `run_child`).
pub fn spawn(entry: &str, role: &str, args: &[&str]) -> ChildProcess {
    start(self_command(), entry, role, args)
}

/// Spawns like [`spawn`], with `prefix` (a program and its arguments, e.g.
/// `["unshare", "-T", "--boottime", "1000", "--"]`) run in front of the test
/// binary. The prefix program must run the binary with the arguments,
/// environment and standard output it is given; [`ChildProcess::pid`] is
/// then the prefix program's process (the same process if it `exec`s the
/// binary, its parent if it forks first). A wrapper that ends by `exec`ing
/// the rest of its command line (e.g. `["unshare", "-m", "--propagation",
/// "private", "--"]`) runs the role in whatever it sets up, and then the
/// pid, kill and wait reach the role itself.
pub fn spawn_under(prefix: &[&str], entry: &str, role: &str, args: &[&str]) -> ChildProcess {
    let (program, prefix_args) = prefix.split_first().expect("a prefix names a program");
    let mut command = Command::new(program);
    command.args(prefix_args).arg(self_exe());
    start(command, entry, role, args)
}

/// Spawns the current test binary to run `role` on its *main* thread,
/// before the test harness starts. libtest runs every test, and so every
/// [`run_child`] role, on a thread of its own; a role that needs to be the
/// thread-group leader (whose thread id is the process id) runs this way.
///
/// The test binary must call [`run_main_thread_role`] from an
/// `.init_array` constructor. `entry` names a test of that binary that
/// calls [`assert_not_a_main_thread_role`]: the harness only reaches it if
/// the constructor did not take over.
pub fn spawn_main_thread_role(entry: &str, role: &str, args: &[&str]) -> ChildProcess {
    let mut command = self_command();
    command.env(MAIN_THREAD_ENV, "1");
    start(command, entry, role, args)
}

/// Runs the role if this process was spawned by [`spawn_main_thread_role`]
/// (call it from an `.init_array` constructor, which runs on the main
/// thread before `main`); otherwise returns at once. Never returns in such
/// a child: it exits with status 0 after the role returns.
pub fn run_main_thread_role(role_fn: impl FnOnce(&str, &[String])) {
    if std::env::var_os(MAIN_THREAD_ENV).is_none() {
        return;
    }
    run_child(role_fn);
    unreachable!("spawned as a main-thread role without a role");
}

/// Fails if this process was spawned to run a main-thread role but reached
/// the test harness: the constructor that should have run it did not.
pub fn assert_not_a_main_thread_role() {
    assert!(
        std::env::var_os(MAIN_THREAD_ENV).is_none(),
        "spawned to run a role on the main thread, but no constructor ran it"
    );
}

/// Starts `command` (the test binary, possibly behind a prefix) as a child
/// running `role`, with its standard output forwarded for points.
fn start(mut command: Command, entry: &str, role: &str, args: &[&str]) -> ChildProcess {
    let mut child = command
        .args([entry, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE_ENV, role)
        .env(ARGS_ENV, args.join("\u{1f}"))
        .env(ENTRY_ENV, entry)
        // Piped, so a role can wait for a line (`send_line`); a role that
        // never reads it is unaffected.
        .stdin(Stdio::piped())
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

    /// Whether the child is still running (a child that has exited is
    /// reaped here, so a zombie does not count as running).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Writes `line` to the child's standard input (a role waiting with
    /// `read_line` goes on).
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{line}").expect("write to the child's stdin");
        stdin.flush().expect("flush the child's stdin");
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
