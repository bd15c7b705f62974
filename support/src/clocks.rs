//! Raw clock readings, for figures that cross a process boundary or count
//! one thread's CPU time: `Instant` can do neither.

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of the
/// machine (what `Instant` reads too), so a time taken in a child can be
/// subtracted from one taken in the parent.
#[inline]
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time the calling thread has used, in nanoseconds.
#[inline]
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

#[inline]
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; both clocks always exist
    // on Linux.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(r, 0, "clock_gettime({clock})");
    let secs = u64::try_from(ts.tv_sec).expect("clock before its epoch");
    let nanos = u64::try_from(ts.tv_nsec).expect("tv_nsec is in 0..1e9");
    secs * 1_000_000_000 + nanos
}
