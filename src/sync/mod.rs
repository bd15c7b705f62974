//! The one place that names `std::sync::atomic` or `loom`.
//!
//! Every primitive imports its atomics, futex operations, thread identity,
//! owner-liveness proof and clock from here, so that building with
//! `RUSTFLAGS="--cfg loom"` swaps the real ones for the models in
//! `loom_model.rs`:
//!
//! | facility | normal build | `--cfg loom` |
//! |---|---|---|
//! | atomics, `fence` | `core::sync::atomic` | `loom::sync::atomic` |
//! | `futex_wait` / `futex_wake` | shared `FUTEX_WAIT` / `FUTEX_WAKE` | a wait queue per word under one loom `Mutex`: a waiter re-checks the word and enqueues atomically, and sleeps until a wake removes it; a wake of `n` removes at most `n` sleepers of that word (oldest first), so a lost wakeup *and* a wake of too few waiters are loom deadlocks |
//! | timed waits | kernel timeout | return `TimedOut` at once and advance a per-thread fake clock by the timeout |
//! | [`LIVENESS_RECHECK`] | [`RECHECK_INTERVAL`] | `None`: untimed; a simulated process death wakes every waiter, standing for the timer that would fire |
//! | `current_thread` | cached `gettid` + process token | `ThreadId(n)` + 1; the token is the thread's simulated process (its own unless it joined another's) |
//! | `owner_liveness` | `F_OFD_GETLK` on the token's byte of the word's segment | dead iff the token's simulated process died ([`loom_hooks::simulate_process_death`]) |
//! | `plan_sleep_many` (a barrier waiting for several processes) | a watch on each token, then a proof of each | `Dead` if one of the tokens' processes died, else `Poll` |
//! | `arrival_probe_due` | at most once per [`LIVENESS_RECHECK`] per thread | always (every arrival probes) |
//! | death vs. sleeping waiters | the waiter's liveness timer fires | a death wakes every sleeper, and a waiter that sleeps after a death it has not been woken for returns at once |
//! | [`Instant`] | `std::time::Instant` | the per-thread fake clock |
//!
//! Under Miri the normal build runs, with the OS calls Miri cannot model
//! answered by `cfg(miri)` stand-ins where they are made: [`cpu_hint`]
//! below takes the thread id; in `sys/`, the futex of a lock word's low
//! half is a 32-bit word of its own, `futex_waitv` is missing (so there
//! are no watches and waiters re-check on the timer), and `shm_model.rs`
//! keeps the named objects, OFD locks and mappings that
//! [`owner_liveness`] and the segments use in memory.

#![allow(dead_code, unused_imports)]

use std::time::Duration;

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

pub(crate) use crate::sys::futex::FutexWait;
pub(crate) use crate::sys::liveness::Liveness;
pub(crate) use crate::sys::thread::ThreadIdentity;

#[cfg(loom)]
mod loom_model;

mod backoff;
pub(crate) use backoff::{Backoff, HANDOFF, LOCK_WAIT, OPEN_RETRY, RECEIVE, SEQLOCK_READ};
mod const_unless_loom;
pub(crate) use const_unless_loom::const_unless_loom;

/// How long a waiter goes at most without re-checking a lock owner's
/// liveness, measured from its last check (a wait interrupted by a signal
/// does not restart the interval).
///
/// A dead owner wakes nobody, so this bounds owner-death detection latency
/// for threads that were already asleep when the owner died. It is the
/// fallback for waiters without a watch (see `sys/watch.rs`: kernels before
/// 5.16, seccomp filters): each re-check is a futex timeout, a wakeup and
/// one `F_OFD_GETLK`, about 10 µs of CPU on a virtual machine, so a waiter
/// blocked behind a live owner then costs ~2 % of a CPU. Watched waiters
/// re-check only every [`WATCHED_RECHECK`].
pub(crate) const RECHECK_INTERVAL: Duration = Duration::from_micros(500);

/// How long a waiter whose owner is *watched* (see `sys/watch.rs`: the
/// kernel reports the owner's death) goes without re-checking by itself: a
/// safety net only, so it may be long.
pub(crate) const WATCHED_RECHECK: Duration = Duration::from_millis(50);

/// How a waiter sleeps behind a live owner (see `RawMutex::lock_slow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SleepPlan {
    /// The owner was proven alive after the death epoch `epoch` was read,
    /// and a watcher reports its death: sleep on the lock word and the
    /// epoch together, re-checking only every [`WATCHED_RECHECK`].
    Watched {
        /// The epoch to sleep on beside the lock word.
        epoch: u32,
    },
    /// No watch could be had: re-check every [`LIVENESS_RECHECK`].
    Poll,
    /// The owner was just proven dead.
    Dead,
    /// No death can be proven (a word outside every segment, or an owner
    /// in the caller's own process): sleep until woken or the deadline.
    Never,
}

/// The liveness re-check interval, or `None` under loom, whose waiters
/// sleep untimed until a simulated death wakes them.
#[cfg(not(loom))]
pub(crate) const LIVENESS_RECHECK: Option<Duration> = Some(RECHECK_INTERVAL);
/// Under loom a waiter sleeps untimed; a simulated death wakes it.
#[cfg(loom)]
pub(crate) const LIVENESS_RECHECK: Option<Duration> = None;

/// A hint inside a busy-wait loop (a loom yield under loom, so that spin
/// loops terminate in the model).
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Gives up the CPU (a loom yield under loom).
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

// ---------------------------------------------------------------------------
// real implementations
// ---------------------------------------------------------------------------

#[cfg(not(loom))]
mod imp {
    use super::*;
    use crate::sys::futex as linux;

    pub(crate) use std::time::Instant;

    /// Sleeps while `*word == expected`, for at most `timeout`.
    #[inline]
    pub(crate) fn futex_wait(
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        linux::futex_wait(word, expected, timeout)
    }

    /// Wakes up to `count` waiters on `word`, in any process.
    #[inline]
    pub(crate) fn futex_wake(word: &AtomicU32, count: u32) -> usize {
        linux::futex_wake(word, count)
    }

    /// Sleeps while the low 32 bits of `*word` equal `expected`.
    #[inline]
    pub(crate) fn futex_wait_low(
        word: &AtomicU64,
        expected: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        linux::futex_wait_low(word, expected, timeout)
    }

    /// Wakes up to `count` waiters of [`futex_wait_low`] on `word`.
    #[inline]
    pub(crate) fn futex_wake_low(word: &AtomicU64, count: u32) -> usize {
        linux::futex_wake_low(word, count)
    }

    /// The calling thread's cached identity: kernel TID and process token.
    #[inline]
    pub(crate) fn current_thread() -> ThreadIdentity {
        crate::sys::thread::current_thread()
    }

    /// How a waiter should sleep behind owner `token` of the lock word at
    /// `addr`: proves the owner alive (or dead) after reading the death
    /// epoch and making sure a watcher reports the owner's death. A proof
    /// is remembered per thread for as long as no death is reported, so a
    /// contended lock between two live processes costs one `F_OFD_GETLK`
    /// per thread, not one per sleep.
    pub(crate) fn plan_sleep(addr: usize, token: u32) -> SleepPlan {
        use crate::sys::watch::{watch, DEATHS, UNMAPS};
        use core::cell::Cell;
        std::thread_local! {
            /// (lock word, owner token, death epoch, unmap count) of this
            /// thread's last proof.
            static PROVEN: Cell<(usize, u32, u32, u32)> = const { Cell::new((0, 0, 0, 0)) };
        }
        let (p_addr, p_token, p_epoch, p_unmaps) = PROVEN.with(Cell::get);
        // Relaxed: see `invalidate_cached_proofs`.
        let unmaps = UNMAPS.load(Ordering::Relaxed);
        // Acquire: pairs with a watcher's release bump of the epoch.
        if p_addr == addr
            && p_token == token
            && p_unmaps == unmaps
            && DEATHS.load(Ordering::Acquire) == p_epoch
        {
            return SleepPlan::Watched { epoch: p_epoch };
        }
        let Some(epoch) = watch(addr, token) else {
            return if crate::sys::liveness::in_a_segment(addr) {
                SleepPlan::Poll
            } else {
                SleepPlan::Never
            };
        };
        match owner_liveness(addr, token) {
            Liveness::Dead => SleepPlan::Dead,
            Liveness::Alive => {
                PROVEN.with(|p| p.set((addr, token, epoch, unmaps)));
                SleepPlan::Watched { epoch }
            }
        }
    }

    /// How a waiter should sleep while it waits for the processes holding
    /// `tokens` (a barrier's parties that have not arrived) on the segment
    /// of the word at `addr`: like [`plan_sleep`] for several owners at
    /// once, without its per-thread cache. `Dead` if any of them is proven
    /// gone; `Watched` only if every one of them is watched, with the death
    /// epoch read before the first watch, so a death after the proofs
    /// changes it; `Poll` if some cannot be watched; `Never` if `tokens` is
    /// empty or the word is outside every segment (nobody can be proven
    /// dead there).
    pub(crate) fn plan_sleep_many(addr: usize, tokens: &[u32]) -> SleepPlan {
        use crate::sys::watch::watch;
        if tokens.is_empty() || !crate::sys::liveness::in_a_segment(addr) {
            return SleepPlan::Never;
        }
        let mut epoch = None;
        let mut watched = true;
        for &token in tokens {
            match watch(addr, token) {
                Some(e) => {
                    epoch.get_or_insert(e);
                }
                None => watched = false,
            }
        }
        if tokens.iter().any(|&t| owner_liveness(addr, t) == Liveness::Dead) {
            return SleepPlan::Dead;
        }
        match epoch {
            Some(epoch) if watched => SleepPlan::Watched { epoch },
            _ => SleepPlan::Poll,
        }
    }

    /// Sleeps while the low half of `word` is `expected` and no owner death
    /// was reported since `epoch`, for at most `timeout`.
    pub(crate) fn sleep_watched(
        word: &AtomicU64,
        expected: u32,
        epoch: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        use crate::sys::futex::{futex_wait_low_or_private, WaitvSupport};
        use crate::sys::watch::{set_waitv_supported, DEATHS};
        match futex_wait_low_or_private(word, expected, &DEATHS, epoch, timeout) {
            WaitvSupport::Done(result) => result,
            WaitvSupport::Unsupported => {
                // Learned late (the probe in `watch` normally tells first):
                // fall back to a plain, short sleep.
                set_waitv_supported(false);
                let short = timeout.map_or(RECHECK_INTERVAL, |t| t.min(RECHECK_INTERVAL));
                linux::futex_wait_low(word, expected, Some(short))
            }
        }
    }

    /// [`sleep_watched`] on a whole 32-bit futex word (a sequence counter
    /// that wakers bump) instead of a lock word's low half.
    pub(crate) fn sleep_watched_seq(
        word: &AtomicU32,
        expected: u32,
        epoch: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        use crate::sys::futex::{futex_wait_or_private, WaitvSupport};
        use crate::sys::watch::{set_waitv_supported, DEATHS};
        match futex_wait_or_private(word, expected, &DEATHS, epoch, timeout) {
            WaitvSupport::Done(result) => result,
            WaitvSupport::Unsupported => {
                // As in `sleep_watched`.
                set_waitv_supported(false);
                let short = timeout.map_or(RECHECK_INTERVAL, |t| t.min(RECHECK_INTERVAL));
                linux::futex_wait(word, expected, Some(short))
            }
        }
    }

    /// Whether the process holding `token` still maps the segment of the
    /// lock word at `addr` (see `sys/liveness.rs`). `Dead` only on proof.
    pub(crate) fn owner_liveness(addr: usize, token: u32) -> Liveness {
        crate::sys::liveness::owner_liveness(addr, token)
    }

    /// Whether a lock waiter of this thread that arrives at a held lock now
    /// should check the owner's liveness before its first sleep: yes if
    /// this thread has not done so within the last [`LIVENESS_RECHECK`].
    ///
    /// A contended lock is entered over and over; a `kill` probe each time
    /// cost more than the sleep it preceded. A skipped probe only delays
    /// the detection of a dead owner to the sleep's liveness timer, the
    /// bound every waiter already asleep at the death has anyway.
    pub(crate) fn arrival_probe_due() -> bool {
        use core::cell::Cell;
        std::thread_local! {
            static LAST_PROBE: Cell<Option<Instant>> = const { Cell::new(None) };
        }
        let Some(interval) = LIVENESS_RECHECK else { return true };
        let now = Instant::now();
        LAST_PROBE.with(|last| {
            if last.get().is_some_and(|t| now.saturating_duration_since(t) < interval) {
                return false;
            }
            last.set(Some(now));
            true
        })
    }
}

#[cfg(not(loom))]
pub(crate) use imp::*;
#[cfg(loom)]
pub(crate) use loom_model::*;

/// Test hooks for the loom models in `loom-tests/`. Not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_hooks {
    /// Marks the calling loom thread's process as dead, as if SIGKILLed,
    /// and wakes all futex waiters (their liveness timer firing). Call it
    /// right after leaking a guard, then return from the thread.
    pub fn simulate_process_death() {
        super::loom_model::simulate_process_death();
    }

    /// Makes the calling loom thread a thread of the process of the model
    /// thread numbered `thread` (0 is the model's main thread), so that a
    /// model can have two threads in one process: a thread of it that exits
    /// with a guard leaked must keep the lock held.
    pub fn join_process_of(thread: u32) {
        super::loom_model::join_process(thread + 1);
    }

    /// The futex model's wait, untimed: sleeps while `*word == expected`.
    /// Returns `true` if it slept and was woken, `false` if the value differed.
    pub fn futex_wait(word: &super::AtomicU32, expected: u32) -> bool {
        super::loom_model::futex_wait(word, expected, None) == super::FutexWait::Woken
    }

    /// The futex model's wake.
    pub fn futex_wake(word: &super::AtomicU32, count: u32) {
        super::loom_model::futex_wake(word, count);
    }

    /// Where `Broadcast::loom_send_then_die` makes its sender die.
    pub use crate::broadcast::SendDeath;
}

// ---------------------------------------------------------------------------
// CPU hint (for sharded counters)
// ---------------------------------------------------------------------------

/// A small number that differs between threads running at the same moment
/// on different CPUs: the CPU the calling thread ran on recently.
///
/// Only a *hint* for spreading writers over cache lines: a thread may migrate
/// right after the call, and callers must stay correct whatever it returns.
/// `sched_getcpu` is asked once every [`CPU_HINT_REFRESH`] calls and the
/// answer cached in a thread-local, so the common path is a TLS read and a
/// decrement whatever the C library's `sched_getcpu` costs (an rseq read on
/// recent glibc, a vDSO call elsewhere). A migrated thread keeps its old
/// CPU's shard for at most that many calls.
///
/// Under loom it is the model's thread number, so that model threads behave
/// like processes on different CPUs.
#[cfg(not(loom))]
#[inline]
pub(crate) fn cpu_hint() -> usize {
    use core::cell::Cell;

    thread_local! {
        // (cached cpu, calls left before asking again); 0 calls left means
        // "ask now", which is also the state of a new thread.
        static CPU_HINT: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    }

    // The system call (and its Miri stand-in) lives in `sys`.
    use crate::sys::thread::current_cpu as refresh;

    CPU_HINT
        .try_with(|hint| {
            let (cpu, left) = hint.get();
            if left == 0 {
                let cpu = refresh();
                hint.set((cpu, CPU_HINT_REFRESH - 1));
                cpu as usize
            } else {
                hint.set((cpu, left - 1));
                cpu as usize
            }
        })
        // During thread-local destruction: ask the kernel directly.
        .unwrap_or_else(|_| refresh() as usize)
}

/// How many [`cpu_hint`] calls reuse one `sched_getcpu` answer.
#[cfg(not(loom))]
pub(crate) const CPU_HINT_REFRESH: u32 = 64;

/// The loom model: each model thread is its own "CPU".
#[cfg(loom)]
pub(crate) fn cpu_hint() -> usize {
    current_thread().tid as usize
}

// ---------------------------------------------------------------------------
// sub-word atomics (the seqlock's word copy)
// ---------------------------------------------------------------------------

/// The seqlock copies a `T` whose size is not a multiple of 8 bytes as
/// 8-byte words followed by at most one 4-, 2- and 1-byte atomic. Under loom
/// it stores whole words only, so these have no loom counterpart.
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU16, AtomicU8};
