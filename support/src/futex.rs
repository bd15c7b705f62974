//! Futex waits seen from outside: learning a thread's id and waiting until
//! it is asleep in the kernel, so a test knows a waiter really blocked
//! before it wakes, kills or times it out.

use std::time::{Duration, Instant};
/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    u32::try_from(tid).expect("thread ids are positive")
}

/// `futex_waitv`'s system call number (x86_64 and aarch64 alike): a waiter
/// whose lock owner is watched sleeps in it, on the lock word and on the
/// owner-death epoch at once.
const SYS_FUTEX_WAITV: libc::c_long = 449;

/// Whether thread `tid` of process `pid` is blocked in a futex wait (`futex`
/// or `futex_waitv`) right now (from `/proc/<pid>/task/<tid>/syscall`,
/// whose first field is the number of the system call the thread is
/// blocked in).
#[cfg(not(miri))]
pub fn blocked_in_futex(pid: u32, tid: u32) -> bool {
    let path = format!("/proc/{pid}/task/{tid}/syscall");
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let current = text.split_whitespace().next();
    [libc::SYS_futex, SYS_FUTEX_WAITV].iter().any(|n| current == Some(n.to_string().as_str()))
}

/// Under Miri, which has no `/proc` and runs one process: whether thread
/// `tid` of this process is in shmsync's futex wait (the library lists its
/// waiting threads when built for Miri).
#[cfg(miri)]
pub fn blocked_in_futex(pid: u32, tid: u32) -> bool {
    assert_eq!(pid, std::process::id(), "Miri runs one process");
    shmsync::miri_hooks::in_futex_wait(tid)
}

/// Waits until thread `tid` of process `pid` is blocked in `futex`; panics
/// after `timeout`.
pub fn wait_until_blocked_in_futex(pid: u32, tid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !blocked_in_futex(pid, tid) {
        assert!(
            Instant::now() < deadline,
            "thread {tid} of process {pid} did not block in futex within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
