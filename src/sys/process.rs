//! Facts about the calling process recorded in a segment's header for
//! diagnostics. Never used as proof of anything: see `liveness.rs`.

/// `getpid()`.
pub(crate) fn getpid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    u32::try_from(unsafe { libc::getpid() }).unwrap_or(0)
}

/// The inode of `/proc/self/ns/pid`: equal for two processes exactly when
/// they share a PID namespace. `0` if it cannot be read (no `/proc`).
#[cfg(not(miri))]
pub(crate) fn pid_namespace_id() -> u64 {
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m))
}

/// Miri has no `/proc` (and its isolation stops at the first file system
/// access): the answer of a system without `/proc`.
#[cfg(miri)]
pub(crate) fn pid_namespace_id() -> u64 {
    0
}
