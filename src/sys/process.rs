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

/// Nanoseconds since the Unix epoch (`0` if the clock is before it).
#[cfg(not(miri))]
pub(crate) fn unix_time_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Miri's isolation has no wall clock: the answer of a clock set before
/// the epoch. (The time is recorded for people reading a header, never
/// used.)
#[cfg(miri)]
pub(crate) fn unix_time_nanos() -> u64 {
    0
}

/// This process's effective user id (`geteuid`).
#[cfg(not(miri))]
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Under Miri: the in-memory objects of `shm_model.rs` all belong to user
/// 0, the model's one user, so this process is that user.
#[cfg(miri)]
pub(crate) fn effective_uid() -> u32 {
    0
}
