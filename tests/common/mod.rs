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
    start(Command::new(exe), entry, role, args)
}

/// Spawns like [`spawn`], with `prefix` (a program and its arguments, e.g.
/// `["unshare", "-T", "--boottime", "1000", "--"]`) run in front of the test
/// binary. The prefix program must run the binary with the arguments,
/// environment and standard output it is given; [`ChildProcess::pid`] is
/// then the prefix program's process (the same process if it `exec`s the
/// binary, its parent if it forks first).
pub fn spawn_under(prefix: &[&str], entry: &str, role: &str, args: &[&str]) -> ChildProcess {
    let exe = std::env::current_exe().expect("current test binary");
    let (program, prefix_args) = prefix.split_first().expect("a prefix names a program");
    let mut command = Command::new(program);
    command.args(prefix_args).arg(exe);
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
    let exe = std::env::current_exe().expect("current test binary");
    let mut command = Command::new(exe);
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

/// Waits until `condition` holds, polling every millisecond; panics after
/// `timeout` naming `what`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends `sig` to the child `pid`; panics if that fails.
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill has no memory-safety preconditions; `pid` is our child.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
}

/// SIGSTOPs the child `pid` and waits until the stop has taken effect, so
/// the caller can inspect shared state the child cannot change meanwhile.
pub fn freeze(pid: u32) {
    signal(pid, libc::SIGSTOP);
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; WUNTRACED reports the stop
    // without reaping the child.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(libc::WIFSTOPPED(status), "child {pid} exited instead of stopping: {status:#x}");
}

/// The number of kills for a torture: `SHMSYNC_TORTURE_KILLS`, else `default`.
pub fn kills_from_env(default: u32) -> u32 {
    std::env::var("SHMSYNC_TORTURE_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A small deterministic generator (xorshift64*) for tortures.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from `SHMSYNC_TORTURE_SEED` if set (to replay a run), else
    /// from the clock; the seed is printed so a failing run can be replayed.
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("SHMSYNC_TORTURE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos());
                u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or(1) | 1
            });
        eprintln!("{what}: SHMSYNC_TORTURE_SEED={seed}");
        Rng(seed)
    }

    /// The next pseudo-random number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A pseudo-random number below `n` (> 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Like [`spawn`], but the test binary is started by `wrapper`: a program
/// and its arguments that end by executing the rest of the command line
/// (e.g. `["unshare", "-m", "--propagation", "private", "--"]`), so the
/// role runs in whatever the wrapper sets up. The wrapper must `exec` the
/// binary rather than fork it, so that [`ChildProcess::pid`] and its
/// kill and wait reach the role itself.
pub fn spawn_wrapped(wrapper: &[&str], entry: &str, role: &str, args: &[&str]) -> ChildProcess {
    spawn_under(wrapper, entry, role, args)
}

/// Whether `program args..` can be run and exits with status 0 (its output
/// discarded): a probe for a tool or a privilege a test needs.
pub fn command_succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The exit status a child role uses to say "this environment cannot run
/// me" (the automake convention); the parent then reports a skip.
pub const SKIP_STATUS: i32 = 77;

/// Reports that `test` did not run, and why, on the real stderr: the
/// harness captures `println!` and `eprintln!` of passing tests, and a skip
/// must never look like a silent pass.
pub fn report_skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {test}: {why}");
}

/// The object behind segment `name` as a file, `/dev/shm/<name>`, read and
/// written the way another program (or an attacker) would: what the
/// validation tests corrupt, forge and inspect. Under Miri, which has no
/// `/dev/shm`, the library keeps its objects in memory and these go there.
pub mod shm_file {
    #[cfg(not(miri))]
    fn path(name: &str) -> String {
        format!("/dev/shm/{name}")
    }

    /// Writes `bytes` at `offset` (`pwrite`), growing the file if needed.
    pub fn write_at(name: &str, offset: u64, bytes: &[u8]) {
        #[cfg(not(miri))]
        {
            use std::os::unix::fs::FileExt;
            let f =
                std::fs::OpenOptions::new().write(true).open(path(name)).expect("open shm file");
            f.write_all_at(bytes, offset).expect("write shm file");
        }
        #[cfg(miri)]
        shmsync::miri_hooks::write_at(name, offset, bytes).expect("write shm object");
    }

    /// The whole file.
    pub fn read(name: &str) -> Vec<u8> {
        #[cfg(not(miri))]
        return std::fs::read(path(name)).expect("read shm file");
        #[cfg(miri)]
        return shmsync::miri_hooks::read(name).expect("read shm object");
    }

    /// Creates the file (or empties it) holding `bytes`: an object made by
    /// hand, not by shmsync.
    pub fn write(name: &str, bytes: &[u8]) {
        #[cfg(not(miri))]
        std::fs::write(path(name), bytes).expect("write /dev/shm file");
        #[cfg(miri)]
        shmsync::miri_hooks::write(name, bytes).expect("write shm object");
    }

    /// Truncates (or extends) the file to `len` bytes.
    pub fn set_len(name: &str, len: u64) {
        #[cfg(not(miri))]
        std::fs::OpenOptions::new()
            .write(true)
            .open(path(name))
            .and_then(|f| f.set_len(len))
            .expect("truncate shm file");
        #[cfg(miri)]
        shmsync::miri_hooks::set_len(name, len).expect("truncate shm object");
    }

    /// Removes a hand-made file when the test ends, pass or fail.
    pub struct RemoveOnDrop(pub String);

    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            #[cfg(not(miri))]
            let _ = std::fs::remove_file(path(&self.0));
            // `unlink` removes any object by name, hand-made or not.
            #[cfg(miri)]
            let _ = shmsync::unlink(&self.0);
        }
    }
}
