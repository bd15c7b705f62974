//! fork: a child forked without `exec` maps its parent's guards, so a lock
//! stays held while either lives; a child that execs holds nothing up; a
//! forked child never robs its live parent, and its own locks are recovered
//! when it dies, although its parent lives on.
//!
//! The forking happens in a role process (never in the test harness's
//! process). Its forked child (the test's grandchild) calls only
//! async-signal-safe functions or `exec`, except where the test is about the
//! child locking. A grandchild whose role process is killed is re-parented
//! to this test process (a child subreaper), which kills and reaps it.

use shmsync::{LockTimeoutError, Segment, ShmMutex, ShmMutexGuard, ShmSafe, TryLockError};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use shmsync_support as support;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    /// The mutex the role process locks before it forks.
    held: ShmMutex<u64>,
    /// The mutex the grandchild locks itself.
    other: ShmMutex<u64>,
    /// The grandchild's process id (in the test's PID namespace).
    grandchild_pid: AtomicU32,
    /// What the grandchild's `try_lock` of `held` returned (an `OUTCOME_*`;
    /// 0 until reported).
    try_lock_outcome: AtomicU32,
    /// What the grandchild's `lock_timeout` of `held` returned.
    lock_timeout_outcome: AtomicU32,
    /// What the grandchild's `lock_timeout` of `other` returned.
    other_outcome: AtomicU32,
}

const OUTCOME_CLEAN: u32 = 1;
const OUTCOME_OWNER_DIED: u32 = 2;
const OUTCOME_NOT_RECOVERABLE: u32 = 3;
const OUTCOME_WOULD_BLOCK: u32 = 4;
const OUTCOME_TIMED_OUT: u32 = 5;

/// The value the role process writes while it holds `held`.
const WRITTEN: u64 = 3;

/// Encodes a lock result, leaking any guard: a grandchild must not unlock
/// (it `_exit`s or is killed holding whatever it got).
fn outcome<T>(r: Result<ShmMutexGuard<'_, T>, TryLockError<'_, T>>) -> u32 {
    match r {
        Ok(g) => {
            std::mem::forget(g);
            OUTCOME_CLEAN
        }
        Err(TryLockError::OwnerDied(g)) => {
            std::mem::forget(g);
            OUTCOME_OWNER_DIED
        }
        Err(TryLockError::NotRecoverable) => OUTCOME_NOT_RECOVERABLE,
        Err(TryLockError::WouldBlock) => OUTCOME_WOULD_BLOCK,
    }
}

/// As [`outcome`], for a `lock_timeout` result.
fn timeout_outcome<T>(r: Result<ShmMutexGuard<'_, T>, LockTimeoutError<'_, T>>) -> u32 {
    match r {
        Err(LockTimeoutError::TimedOut) => OUTCOME_TIMED_OUT,
        Err(LockTimeoutError::NotRecoverable) => OUTCOME_NOT_RECOVERABLE,
        Err(LockTimeoutError::OwnerDied(g)) => outcome(Err(TryLockError::OwnerDied(g))),
        Ok(g) => outcome(Ok(g)),
    }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "lock_fork_pause" => {
                let _held = lock_held(&seg);
                let pid = fork_child(|| loop {
                    // SAFETY: pause has no preconditions (async-signal-safe).
                    unsafe { libc::pause() };
                });
                publish_grandchild(&seg, pid);
                support::reached("forked");
                support::park_forever();
            }
            "lock_fork_exec" => {
                let sleep = shmsync_support::process::find_program("sleep");
                let argv = [c"sleep".as_ptr(), c"30".as_ptr(), std::ptr::null()];
                let _held = lock_held(&seg);
                let pid = fork_child(|| {
                    // SAFETY: `sleep` and `argv` are NUL-terminated strings
                    // and a null-terminated array built before the fork;
                    // execv is async-signal-safe.
                    unsafe { libc::execv(sleep.as_ptr(), argv.as_ptr()) };
                    127
                });
                publish_grandchild(&seg, pid);
                support::reached("forked");
                support::park_forever();
            }
            "hold_and_fork_child_that_tries_to_lock" => {
                let held = lock_held(&seg);
                let pid = fork_child(|| {
                    let tried = outcome(seg.held.try_lock());
                    seg.try_lock_outcome.store(tried, Ordering::SeqCst);
                    let waited = timeout_outcome(seg.held.lock_timeout(Duration::from_millis(200)));
                    seg.lock_timeout_outcome.store(waited, Ordering::SeqCst);
                    0
                });
                let status = wait_child(pid);
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "the forked child failed: status {status:#x}"
                );
                // The child never took the word: this thread still owns it
                // and unlocks normally.
                drop(held);
            }
            "fork_child_that_locks_and_is_killed" => {
                // Lock once before the fork, so this process has a token
                // the child inherits and must not keep using.
                drop(lock_held(&seg));
                let pid = fork_child(|| {
                    let got = timeout_outcome(seg.other.lock_timeout(Duration::from_secs(5)));
                    seg.other_outcome.store(got, Ordering::SeqCst);
                    if got == OUTCOME_CLEAN {
                        support::die_now();
                    }
                    1
                });
                let status = wait_child(pid);
                assert!(
                    libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
                    "the forked child was to lock and die by SIGKILL: status {status:#x}"
                );
                support::reached("grandchild_killed");
                support::park_forever();
            }
            other => panic!("unknown role {other}"),
        }
    });
}

fn lock_held(seg: &Shared) -> ShmMutexGuard<'_, u64> {
    let mut g = seg.held.lock().unwrap_or_else(|e| panic!("the first lock must be clean: {e:?}"));
    *g = WRITTEN;
    g
}

fn publish_grandchild(seg: &Shared, pid: libc::pid_t) {
    seg.grandchild_pid.store(u32::try_from(pid).expect("pids are positive"), Ordering::SeqCst);
}

/// Forks; the child runs `body` and `_exit`s with its status (101 if it
/// panics), so it never returns into the copy of the test harness it was
/// forked from. Returns the child's pid in the parent.
fn fork_child(body: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: fork has no memory-safety preconditions. The child runs only
    // `body` (async-signal-safe calls, or the locking under test) and then
    // `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
        // SAFETY: _exit ends the child at once, without running the
        // destructors or atexit handlers of the process it was forked from.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Reaps the role's own child `pid` and returns its wait status.
fn wait_child(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "waitpid({pid}): {err}");
    }
}

/// Makes this test process the reaper of its descendants' orphans, so a
/// grandchild whose parent was killed becomes its child.
fn become_subreaper() {
    let on: libc::c_ulong = 1;
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no pointers.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, on) };
    assert_eq!(r, 0, "prctl(PR_SET_CHILD_SUBREAPER): {}", std::io::Error::last_os_error());
}

/// A grandchild re-parented to this test process once its role process
/// died. Killed and reaped on drop, so a failing test leaves nothing behind.
struct Orphan {
    pid: libc::pid_t,
    reaped: bool,
}

impl Orphan {
    fn of(seg: &Shared) -> Orphan {
        let pid = seg.grandchild_pid.load(Ordering::SeqCst);
        assert_ne!(pid, 0, "the role published its child's pid");
        Orphan { pid: libc::pid_t::try_from(pid).expect("pid fits pid_t"), reaped: false }
    }

    /// Whether the grandchild has not exited (call once its parent is dead
    /// and reaped, so it is this process's child).
    fn is_alive(&mut self) -> bool {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid({}): {}", self.pid, std::io::Error::last_os_error());
        if r == self.pid {
            self.reaped = true;
        }
        r == 0
    }

    /// SIGKILLs the grandchild and reaps it.
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: kill has no memory-safety preconditions; `pid` is not
        // reaped yet, so it still names the grandchild.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        self.reaped = r == self.pid;
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        self.kill();
    }
}

fn create(tag: &str) -> (String, Segment<Shared>) {
    become_subreaper();
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    (name, seg)
}

/// `lock_timeout` of `held` must report its holder dead; repairs and unlocks.
fn expect_owner_died(m: &ShmMutex<u64>, written: u64, wait: Duration, why: &str) {
    match m.lock_timeout(wait) {
        Err(LockTimeoutError::OwnerDied(mut g)) => {
            assert_eq!(*g, written, "the dead holder's write is visible");
            ShmMutexGuard::make_consistent(&mut g);
        }
        other => panic!("{why}: expected OwnerDied, got {other:?}"),
    }
    assert!(m.try_lock().is_ok(), "the repaired mutex works normally");
}

/// (a) The holder forks a child that does not exec and is killed: the child
/// maps the guard (its memory is a copy of the holder's), so the lock stays
/// held while it lives, and is recovered once it is gone too.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn lock_stays_held_while_a_forked_child_lives_and_is_recovered_after_it_dies() {
    let (name, seg) = create("fork-pause");
    let mut holder = support::spawn("child_entry", "lock_fork_pause", &[&name]);
    holder.wait_for("forked", Duration::from_secs(10));
    let mut grandchild = Orphan::of(&seg);
    holder.kill();
    match seg.held.lock_timeout(Duration::from_millis(500)) {
        Err(LockTimeoutError::TimedOut) => {}
        other => panic!("the holder's forked child lives: expected TimedOut, got {other:?}"),
    }
    assert!(grandchild.is_alive(), "the forked child must still be alive");
    grandchild.kill();
    expect_owner_died(&seg.held, WRITTEN, Duration::from_secs(5), "the holder and its child died");
}

/// (b) The holder forks a child that execs `sleep` and is killed: the new
/// program maps nothing of the holder's, so the lock is recovered while it
/// still runs.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn forked_child_that_execs_does_not_hold_the_lock_up() {
    let (name, seg) = create("fork-exec");
    let mut holder = support::spawn("child_entry", "lock_fork_exec", &[&name]);
    holder.wait_for("forked", Duration::from_secs(10));
    let mut grandchild = Orphan::of(&seg);
    holder.kill();
    expect_owner_died(
        &seg.held,
        WRITTEN,
        Duration::from_secs(3),
        "the holder died and its child exec'd `sleep`",
    );
    assert!(grandchild.is_alive(), "the exec'd child must still be alive");
    let pid = grandchild.pid;
    support::wait_until("the forked child runs `sleep`", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "sleep")
    });
    assert!(grandchild.is_alive(), "the exec'd `sleep` must still be alive");
    grandchild.kill();
}

/// (c) A forked child is a new process with its own token: a mutex its live
/// parent holds is busy (`WouldBlock`, `TimedOut`), never `OwnerDied`.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn forked_child_never_robs_its_live_parent() {
    let (name, seg) = create("fork-no-rob");
    support::spawn("child_entry", "hold_and_fork_child_that_tries_to_lock", &[&name])
        .expect_success(Duration::from_secs(20));
    assert_eq!(
        seg.try_lock_outcome.load(Ordering::SeqCst),
        OUTCOME_WOULD_BLOCK,
        "the child's try_lock"
    );
    assert_eq!(
        seg.lock_timeout_outcome.load(Ordering::SeqCst),
        OUTCOME_TIMED_OUT,
        "the child's lock_timeout"
    );
    let g =
        seg.held.try_lock().unwrap_or_else(|e| panic!("the parent unlocked cleanly: got {e:?}"));
    assert_eq!(*g, WRITTEN);
}

/// (d) A forked child locks a mutex of the segment and is killed while its
/// parent lives: the child's own token was held through its own open file
/// description, so its death is seen although the parent still holds the
/// descriptions they shared.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn forked_child_killed_holding_a_lock_is_recovered_while_its_parent_lives() {
    let (name, seg) = create("fork-child-dies");
    let mut parent = support::spawn("child_entry", "fork_child_that_locks_and_is_killed", &[&name]);
    parent.wait_for("grandchild_killed", Duration::from_secs(20));
    assert_eq!(seg.other_outcome.load(Ordering::SeqCst), OUTCOME_CLEAN, "the child's lock");
    expect_owner_died(&seg.other, 0, Duration::from_secs(5), "the forked child was killed");
    assert!(parent.is_running(), "the child's parent must still be alive");
    parent.kill();
}
