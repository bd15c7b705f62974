//! futex wait/wake: always the *shared* operations. A futex word in a
//! `MAP_SHARED` mapping is keyed by its (inode, offset), which is what lets a
//! waiter in one process be woken by another; the private variants key by
//! (mm, address) and would silently never wake a peer process.

use core::sync::atomic::{AtomicU32, AtomicU64};
use std::io;
use std::time::Duration;

/// Why [`futex_wait`] returned. Callers must re-check their condition in every
/// case: the kernel allows spurious wakeups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FutexWait {
    /// Woken by a `futex_wake`, by a signal, or spuriously.
    Woken,
    /// The word did not hold `expected` when the kernel checked it.
    ValueChanged,
    /// The timeout elapsed.
    TimedOut,
}

/// Sleeps while `*word == expected`, for at most `timeout` (forever if `None`).
///
/// The comparison and the enqueue are one atomic step in the kernel (under
/// the futex hash-bucket lock), so a `futex_wake` issued after the caller's
/// last store to `word` can never be lost.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    futex_wait_at(word.as_ptr(), expected, timeout)
}

/// [`futex_wait`] on the low 32 bits of a 64-bit word: the half whose value
/// the kernel compares with `expected`. Lets a lock keep its futex word and
/// more owner data in one atomic that a single CAS updates.
#[cfg(not(miri))]
pub(crate) fn futex_wait_low(
    word: &AtomicU64,
    expected: u32,
    timeout: Option<Duration>,
) -> FutexWait {
    futex_wait_at(low_half(word), expected, timeout)
}

/// [`futex_wake`] for a word waited on with [`futex_wait_low`].
#[cfg(not(miri))]
pub(crate) fn futex_wake_low(word: &AtomicU64, count: u32) -> usize {
    futex_wake_at(low_half(word), count)
}

#[cfg(miri)]
pub(crate) use miri_low_half::{futex_wait_low, futex_wake_low};

/// The futex of a 64-bit word's low half, under Miri.
///
/// Miri models the comparison of a futex wait as a 4-byte atomic load by the
/// waiting thread, which its race detector reports against the lock's 8-byte
/// CASes on the same word ("mixed-size access"). Outside Miri the kernel's
/// read is no Rust access and there is no such race; inside it the low
/// half cannot be a futex. So each word gets a 32-bit *sequence* of its
/// own, which is the futex instead:
///
/// * a waker bumps the sequence after its caller changed the word, then
///   wakes the sequence's sleepers;
/// * a waiter reads the sequence, then compares the word's low half with
///   `expected` (8-byte loads, like every other access to it), then sleeps
///   while the sequence still holds what it read.
///
/// No wakeup is lost: a waiter whose sequence load sees a bump
/// synchronizes with it (SeqCst RMW → SeqCst load), so its word load sees
/// the change and it does not sleep; one whose load predates the bump
/// either finds it when Miri's futex wait compares (that comparison
/// follows a SeqCst fence, as does every wake) or is already queued when
/// the wake comes. A wake of `count` still wakes at most `count` sleepers
/// of that word. Sequences are never freed; a new word at a reused address
/// shares its predecessor's sequence, which can only add spurious wakeups.
#[cfg(miri)]
mod miri_low_half {
    use super::{futex_wait, futex_wake, FutexWait};
    use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::collections::BTreeMap;
    use std::sync::{Mutex, PoisonError};
    use std::time::Duration;

    /// Lock word address → its sequence. Reachable from this static, so
    /// the leaked sequences are no leak to Miri.
    static SEQUENCES: Mutex<BTreeMap<usize, &'static AtomicU32>> = Mutex::new(BTreeMap::new());

    fn sequence(word: &AtomicU64) -> &'static AtomicU32 {
        let mut map = SEQUENCES.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(word.as_ptr() as usize).or_insert_with(|| Box::leak(Box::new(AtomicU32::new(0))))
    }

    pub(crate) fn futex_wait_low(
        word: &AtomicU64,
        expected: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        let sequence = sequence(word);
        // SeqCst: pairs with the bump in `futex_wake_low` (see above).
        let seen = sequence.load(Ordering::SeqCst);
        // SeqCst: ordered after the sequence load (see above). The low
        // half is the futex word: truncation is the point.
        if word.load(Ordering::SeqCst) as u32 != expected {
            return FutexWait::ValueChanged;
        }
        match futex_wait(sequence, seen, timeout) {
            // The sequence moved: a wake came after our comparison.
            FutexWait::ValueChanged => FutexWait::Woken,
            other => other,
        }
    }

    pub(crate) fn futex_wake_low(word: &AtomicU64, count: u32) -> usize {
        let sequence = sequence(word);
        // SeqCst: pairs with the sequence load in `futex_wait_low`.
        sequence.fetch_add(1, Ordering::SeqCst);
        futex_wake(sequence, count)
    }
}

/// Under Miri: the threads inside a futex wait, for tests that wait until
/// a thread sleeps before they go on (outside Miri they read
/// `/proc/<pid>/task/<tid>/syscall`). A thread is listed from just before
/// its wait until it returns, so a listed thread is asleep or about to
/// compare the futex word, which a wake that follows still reaches.
#[cfg(miri)]
pub(crate) mod miri_waiters {
    use std::sync::{Mutex, PoisonError};

    static WAITING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

    fn tid() -> u32 {
        // SAFETY: gettid has no preconditions and cannot fail.
        u32::try_from(unsafe { libc::gettid() }).unwrap_or(0)
    }

    /// Lists the calling thread until dropped.
    pub(crate) struct Waiting(u32);

    impl Waiting {
        pub(crate) fn enter() -> Waiting {
            let tid = tid();
            WAITING.lock().unwrap_or_else(PoisonError::into_inner).push(tid);
            Waiting(tid)
        }
    }

    impl Drop for Waiting {
        fn drop(&mut self) {
            let mut waiting = WAITING.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(i) = waiting.iter().position(|&t| t == self.0) {
                waiting.swap_remove(i);
            }
        }
    }

    /// Whether thread `tid` is inside a futex wait.
    pub fn in_futex_wait(tid: u32) -> bool {
        WAITING.lock().unwrap_or_else(PoisonError::into_inner).contains(&tid)
    }
}

/// The address of the low 32 bits of `word` (numerically low, whatever the
/// byte order). Aligned to 4 because `word` is aligned to 8.
#[cfg_attr(miri, allow(dead_code))]
fn low_half(word: &AtomicU64) -> *mut u32 {
    let p = word.as_ptr().cast::<u32>();
    if cfg!(target_endian = "big") {
        p.wrapping_add(1)
    } else {
        p
    }
}

fn futex_wait_at(addr: *mut u32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let ts = timeout.map(|d| libc::timespec {
        // Saturate absurd timeouts rather than overflow time_t: a wait of
        // i64::MAX seconds is "forever" for every practical purpose.
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(d.subsec_nanos()),
    });
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    #[cfg(miri)]
    let _waiting = miri_waiters::Waiting::enter();
    // SAFETY: `addr` points into a live atomic (an `AtomicU32`, or the low
    // half of an `AtomicU64`), so it is valid, 4-aligned and readable for
    // the duration of the call; the kernel only reads it. `ts_ptr` is null
    // or points to `ts`, which outlives the call. FUTEX_WAIT ignores the
    // remaining arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr,
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return FutexWait::Woken;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => FutexWait::ValueChanged,
        Some(libc::ETIMEDOUT) => FutexWait::TimedOut,
        // EINTR: a signal handler ran; report it as a wakeup so the caller
        // re-checks. Anything else (EFAULT, EINVAL) cannot happen for a valid
        // aligned word and is also reported as a wakeup: the caller's loop
        // re-checks, which is always safe.
        _ => FutexWait::Woken,
    }
}

/// Wakes at most `count` threads (in any process) sleeping on `word`.
/// Returns how many were woken.
pub(crate) fn futex_wake(word: &AtomicU32, count: u32) -> usize {
    futex_wake_at(word.as_ptr(), count)
}

fn futex_wake_at(addr: *mut u32, count: u32) -> usize {
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    // SAFETY: `addr` points into a live atomic; FUTEX_WAKE only uses the
    // address as a key and never dereferences it in a way that could fault.
    let r = unsafe { libc::syscall(libc::SYS_futex, addr, libc::FUTEX_WAKE, count) };
    usize::try_from(r).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn futex_wait_returns_when_value_differs_or_times_out() {
        let w = AtomicU32::new(5);
        assert_eq!(futex_wait(&w, 4, None), FutexWait::ValueChanged);
        assert_eq!(futex_wait(&w, 5, Some(Duration::from_millis(1))), FutexWait::TimedOut);
        assert_eq!(futex_wake(&w, 1), 0);
    }

    #[test]
    fn futex_on_the_low_half_of_a_64_bit_word() {
        let w = AtomicU64::new(0xAAAA_BBBB_0000_0005);
        // Only the low half is compared.
        assert_eq!(futex_wait_low(&w, 4, None), FutexWait::ValueChanged);
        assert_eq!(futex_wait_low(&w, 5, Some(Duration::from_millis(1))), FutexWait::TimedOut);
        assert_eq!(futex_wake_low(&w, 1), 0);
    }
}

/// `futex_waitv` (Linux 5.16): the syscall number, the same on every
/// architecture shmsync supports (the generic table: x86_64 and aarch64).
#[cfg(not(miri))]
const SYS_FUTEX_WAITV: libc::c_long = 449;
/// `FUTEX2_SIZE_U32`: the futex is a 32-bit word.
#[cfg(not(miri))]
const FUTEX2_SIZE_U32: u32 = 0x02;
/// `FUTEX2_PRIVATE`: keyed by this process's address space.
#[cfg(not(miri))]
const FUTEX2_PRIVATE: u32 = 128;

/// One entry of `futex_waitv`'s array (the kernel's `struct futex_waitv`).
#[cfg(not(miri))]
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// What [`futex_wait_low_or_private`] could do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(miri, allow(dead_code))]
pub(crate) enum WaitvSupport {
    /// It slept (or returned) as asked.
    Done(FutexWait),
    /// The kernel has no `futex_waitv` (before 5.16), or refuses it to this
    /// process (a seccomp filter): nothing happened.
    Unsupported,
}

/// Sleeps while the low half of the *shared* `word` equals `expected` **and**
/// the *process-private* `private` equals `private_expected`, for at most
/// `timeout`: a wake of either word ends the sleep, and either comparison
/// failing returns at once. Like [`futex_wait_low`], the comparisons and
/// the enqueue are one atomic step in the kernel.
#[cfg(not(miri))]
pub(crate) fn futex_wait_low_or_private(
    word: &AtomicU64,
    expected: u32,
    private: &AtomicU32,
    private_expected: u32,
    timeout: Option<Duration>,
) -> WaitvSupport {
    waitv_shared_or_private(low_half(word), expected, private, private_expected, timeout)
}

/// [`futex_wait_low_or_private`] for a shared 32-bit futex word (a
/// sequence counter rather than a lock word's low half).
#[cfg(not(miri))]
pub(crate) fn futex_wait_or_private(
    word: &AtomicU32,
    expected: u32,
    private: &AtomicU32,
    private_expected: u32,
    timeout: Option<Duration>,
) -> WaitvSupport {
    waitv_shared_or_private(word.as_ptr(), expected, private, private_expected, timeout)
}

/// `futex_waitv` on the shared 32-bit futex at `shared` and the private
/// `private`: see [`futex_wait_low_or_private`].
#[cfg(not(miri))]
fn waitv_shared_or_private(
    shared: *mut u32,
    expected: u32,
    private: &AtomicU32,
    private_expected: u32,
    timeout: Option<Duration>,
) -> WaitvSupport {
    let waiters = [
        FutexWaitv {
            val: u64::from(expected),
            uaddr: shared as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        },
        FutexWaitv {
            val: u64::from(private_expected),
            uaddr: private.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32 | FUTEX2_PRIVATE,
            reserved: 0,
        },
    ];
    // futex_waitv takes an absolute CLOCK_MONOTONIC deadline.
    let deadline = timeout.map(|d| {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is valid for writes; CLOCK_MONOTONIC always exists.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let secs = libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX / 2);
        let mut ts = libc::timespec {
            tv_sec: now.tv_sec.saturating_add(secs),
            tv_nsec: now.tv_nsec + libc::c_long::from(d.subsec_nanos()),
        };
        if ts.tv_nsec >= 1_000_000_000 {
            ts.tv_nsec -= 1_000_000_000;
            ts.tv_sec = ts.tv_sec.saturating_add(1);
        }
        ts
    });
    let ts_ptr = deadline.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `waiters` is an array of two valid `struct futex_waitv`
    // entries whose addresses point into live, 4-aligned atomics (an
    // `AtomicU32` or the low half of an `AtomicU64`, and an `AtomicU32`)
    // that the callers borrow for the duration of the call;
    // the kernel only reads them. `ts_ptr` is null or points to `deadline`,
    // which outlives the call.
    let r = unsafe {
        libc::syscall(
            SYS_FUTEX_WAITV,
            waiters.as_ptr(),
            waiters.len() as libc::c_uint,
            0u32,
            ts_ptr,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r >= 0 {
        return WaitvSupport::Done(FutexWait::Woken);
    }
    WaitvSupport::Done(match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => FutexWait::ValueChanged,
        Some(libc::ETIMEDOUT) => FutexWait::TimedOut,
        // A signal: a wakeup; the caller re-checks.
        Some(libc::EINTR) => FutexWait::Woken,
        // ENOSYS (before 5.16), EPERM (a seccomp filter) or anything else:
        // it did not sleep and will not; the caller must sleep another way
        // rather than return at once, again and again.
        _ => return WaitvSupport::Unsupported,
    })
}

/// Miri has no `futex_waitv`: it answers as a kernel before 5.16 does, so
/// no watch is ever had and waiters re-check owners on their timer (see
/// `sys/watch.rs`), the path such kernels take.
#[cfg(miri)]
pub(crate) fn futex_wait_low_or_private(
    _word: &AtomicU64,
    _expected: u32,
    _private: &AtomicU32,
    _private_expected: u32,
    _timeout: Option<Duration>,
) -> WaitvSupport {
    WaitvSupport::Unsupported
}

/// Under Miri, as [`futex_wait_low_or_private`]: no `futex_waitv`.
#[cfg(miri)]
pub(crate) fn futex_wait_or_private(
    _word: &AtomicU32,
    _expected: u32,
    _private: &AtomicU32,
    _private_expected: u32,
    _timeout: Option<Duration>,
) -> WaitvSupport {
    WaitvSupport::Unsupported
}

/// Wakes every waiter of the process-private `word` (in this process).
pub(crate) fn futex_wake_private_all(word: &AtomicU32) {
    // SAFETY: `word` is a live atomic; FUTEX_WAKE only uses its address as a
    // key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        )
    };
}
