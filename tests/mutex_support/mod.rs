//! Support shared by the mutex and condvar tests: learning a thread's id
//! and waiting until it is asleep in a futex wait.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    u32::try_from(tid).expect("thread ids are positive")
}

/// Whether thread `tid` of process `pid` is blocked in the `futex` system
/// call right now (from `/proc/<pid>/task/<tid>/syscall`, whose first field
/// is the number of the system call the thread is blocked in).
pub fn blocked_in_futex(pid: u32, tid: u32) -> bool {
    let path = format!("/proc/{pid}/task/{tid}/syscall");
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let futex = libc::SYS_futex.to_string();
    text.split_whitespace().next() == Some(futex.as_str())
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

/// Waits until `condition` holds; panics after `timeout` with `what`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
