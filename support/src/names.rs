//! Names for segments and shared-memory objects that no other test, run or
//! process uses, so parallel tests and concurrent runs never collide.
//!
//! Every name is `<prefix><tag>-<pid>-<n>`: the prefix says who made it
//! (tests, benchmarks, the command's tests), the process id keeps
//! concurrent runs apart, and `n` counts within the process.

use std::ffi::CString;
use std::sync::atomic::{AtomicU32, Ordering};

/// What the integration tests' names start with.
pub const TEST_PREFIX: &str = "shmsync-test-";

/// What the benchmarks' names start with.
pub const BENCH_PREFIX: &str = "shmsync-bench-";

/// A unique name for a test segment: `shmsync-test-<tag>-<pid>-<n>`.
pub fn unique_name(tag: &str) -> String {
    unique_name_with(TEST_PREFIX, tag)
}

/// A unique name `<prefix><tag>-<pid>-<n>`.
pub fn unique_name_with(prefix: &str, tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // relaxed: only uniqueness matters, no other memory is published.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{tag}-{}-{n}", std::process::id())
}

/// A name for one run of an example, `shmsync-<example>-<pid>`: the run's
/// workers open it by this name, and concurrent runs never share it.
pub fn run_name(example: &str) -> String {
    format!("shmsync-{example}-{}", std::process::id())
}

/// Unlinks every object this process named with `prefix` (by
/// [`unique_name_with`]): the cleanup of an interrupted run, whose regions
/// and segments are never dropped. Best effort: an object already gone is
/// no error.
pub fn unlink_names_of_this_process(prefix: &str) {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else { return };
    let pid = std::process::id().to_string();
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else { continue };
        if !is_of_process(name, prefix, &pid) {
            continue;
        }
        if let Ok(cname) = CString::new(format!("/{name}")) {
            // SAFETY: `cname` is a valid C string; this process created the
            // object (its pid is in the name).
            unsafe { libc::shm_unlink(cname.as_ptr()) };
        }
    }
}

/// Whether `name` is `<prefix>…-<pid>-<n>`: the pid is the second field
/// from the end.
fn is_of_process(name: &str, prefix: &str, pid: &str) -> bool {
    name.starts_with(prefix) && name.rsplit('-').nth(1) == Some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_carry_prefix_tag_and_pid() {
        let a = unique_name("x");
        let b = unique_name("x");
        assert_ne!(a, b);
        let pid = std::process::id().to_string();
        assert!(a.starts_with("shmsync-test-x-"), "{a}");
        assert!(is_of_process(&a, TEST_PREFIX, &pid));
        assert!(!is_of_process(&a, BENCH_PREFIX, &pid));
        let bench = unique_name_with(BENCH_PREFIX, "lock-word");
        assert!(is_of_process(&bench, BENCH_PREFIX, &pid), "{bench}");
        assert!(!is_of_process(&bench, BENCH_PREFIX, "1"));
    }
}
