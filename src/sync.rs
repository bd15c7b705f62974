//! The one place that names `std::sync::atomic` or `loom`.
//!
//! Every primitive imports its atomics, futex operations, thread identity,
//! liveness checks and clock from here, so that building with
//! `RUSTFLAGS="--cfg loom"` swaps the real ones for loom models:
//!
//! | facility | normal build | `--cfg loom` |
//! |---|---|---|
//! | atomics, `fence` | `core::sync::atomic` | `loom::sync::atomic` |
//! | `futex_wait` / `futex_wake` | shared `FUTEX_WAIT` / `FUTEX_WAKE` | a wait queue per word under one loom `Mutex`: a waiter re-checks the word and enqueues atomically, and sleeps until a wake removes it; a wake of `n` removes at most `n` sleepers of that word (oldest first), so a lost wakeup *and* a wake of too few waiters are loom deadlocks |
//! | timed waits | kernel timeout | return `TimedOut` at once and advance a per-thread fake clock by the timeout |
//! | [`LIVENESS_RECHECK`] | a few ms | `None`: untimed; a simulated death wakes every waiter, standing for the timer that would fire |
//! | `current_thread` | cached `gettid` + start time | `ThreadId(n)` + 1, start time 1 |
//! | `thread_liveness` | `kill(tid, 0)` + `/proc/<tid>/stat` | dead iff the thread called [`simulate_thread_death`] |
//! | `thread_exists_quick` | `kill(tid, 0)` only | same as `thread_liveness` |
//! | `arrival_probe_due` | at most once per [`LIVENESS_RECHECK`] per thread | always (every arrival probes) |
//! | death vs. sleeping waiters | the waiter's liveness timer fires | a death wakes every sleeper, and a waiter that sleeps after a death it has not been woken for returns at once |
//! | [`Instant`] | `std::time::Instant` | the per-thread fake clock |

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

pub(crate) use crate::sys::linux::{FutexWait, Liveness, ThreadIdentity};

/// How long a waiter sleeps before re-checking a lock owner's liveness.
///
/// A dead owner wakes nobody, so this bounds owner-death detection latency for
/// threads that were already asleep when the owner died. Re-checking costs
/// one `kill` and one small `/proc` read per interval per waiter.
#[cfg(not(loom))]
pub(crate) const LIVENESS_RECHECK: Option<Duration> = Some(Duration::from_millis(4));
/// Under loom a waiter sleeps untimed; [`simulate_thread_death`] wakes it.
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
    use crate::sys::linux;

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

    /// The calling thread's cached kernel identity.
    #[inline]
    pub(crate) fn current_thread() -> ThreadIdentity {
        linux::current_thread()
    }

    /// Whether the thread `tid` that recorded `start_time` still runs.
    pub(crate) fn thread_liveness(tid: u32, start_time: u64) -> Liveness {
        linux::thread_liveness(tid, start_time)
    }

    /// The cheap liveness check: one `kill(tid, 0)`; `Dead` only if no such
    /// task exists. Zombies and reused TIDs need [`thread_liveness`].
    pub(crate) fn thread_exists_quick(tid: u32) -> Liveness {
        linux::thread_exists_quick(tid)
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

// ---------------------------------------------------------------------------
// loom models
// ---------------------------------------------------------------------------

#[cfg(loom)]
mod imp {
    use super::*;
    use core::cell::Cell;
    use loom::sync::{Condvar, Mutex};

    /// A fake monotonic clock, per thread, in nanoseconds. It only moves when
    /// a timed futex wait "times out", which makes deadlines reachable in a
    /// model without real time.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    pub(crate) struct Instant(u64);

    loom::thread_local! {
        static FAKE_NOW: Cell<u64> = Cell::new(0);
        /// The set of dead threads this thread's last futex wait knew about.
        static SEEN_DEAD: Cell<u64> = Cell::new(0);
    }

    impl Instant {
        pub(crate) fn now() -> Instant {
            Instant(FAKE_NOW.with(Cell::get))
        }
        pub(crate) fn checked_add(self, d: Duration) -> Option<Instant> {
            let ns = u64::try_from(d.as_nanos()).ok()?;
            self.0.checked_add(ns).map(Instant)
        }
        pub(crate) fn saturating_duration_since(self, earlier: Instant) -> Duration {
            Duration::from_nanos(self.0.saturating_sub(earlier.0))
        }
        pub(crate) fn elapsed(self) -> Duration {
            Instant::now().saturating_duration_since(self)
        }
    }

    impl core::ops::Add<Duration> for Instant {
        type Output = Instant;
        fn add(self, d: Duration) -> Instant {
            self.checked_add(d).unwrap_or(Instant(u64::MAX))
        }
    }

    /// The kernel's futex hash bucket: who sleeps on which word, in order.
    struct FutexModel {
        queue: Mutex<WaitQueue>,
        wakeups: Condvar,
    }

    struct WaitQueue {
        next_ticket: u64,
        /// Sleeping waiters as `(word address, ticket)`, oldest first. A
        /// waker removes the entries it wakes; a sleeper whose entry is gone
        /// has been woken.
        sleepers: Vec<(usize, u64)>,
    }

    /// Threads that "died" in the model (bit `tid` set).
    struct DeadSet {
        bits: AtomicU64,
    }

    loom::lazy_static! {
        static ref FUTEX: FutexModel = FutexModel {
            queue: Mutex::new(WaitQueue { next_ticket: 0, sleepers: Vec::new() }),
            wakeups: Condvar::new(),
        };
        static ref DEAD: DeadSet = DeadSet { bits: AtomicU64::new(0) };
    }

    pub(crate) fn futex_wait(
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        let addr = core::ptr::from_ref(word) as usize;
        wait_on(addr, || word.load(Ordering::SeqCst), expected, timeout)
    }

    pub(crate) fn futex_wake(word: &AtomicU32, count: u32) -> usize {
        wake_on(core::ptr::from_ref(word) as usize, count)
    }

    pub(crate) fn futex_wait_low(
        word: &AtomicU64,
        expected: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        let addr = core::ptr::from_ref(word) as usize;
        #[allow(clippy::cast_possible_truncation)]
        let low = || word.load(Ordering::SeqCst) as u32;
        wait_on(addr, low, expected, timeout)
    }

    pub(crate) fn futex_wake_low(word: &AtomicU64, count: u32) -> usize {
        wake_on(core::ptr::from_ref(word) as usize, count)
    }

    /// The model of `FUTEX_WAIT` on the word at `addr`, whose current value
    /// `current` reads (SeqCst: the kernel's check is a full barrier).
    fn wait_on(
        addr: usize,
        current: impl Fn() -> u32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> FutexWait {
        // The kernel compares and enqueues under the hash-bucket lock; the
        // model's mutex plays that lock. SeqCst: the kernel's check is a
        // full barrier on every architecture.
        let mut queue = FUTEX.queue.lock().unwrap();
        if current() != expected {
            return FutexWait::ValueChanged;
        }
        // A death this waiter has not yet been woken for: in a real run its
        // liveness timer would fire after the death even if the waiter went
        // to sleep only afterwards, so return at once (a spurious wakeup).
        // Without this, a waiter that checked liveness ("alive") just before
        // the death and slept just after it would sleep forever in the model
        // although the real timer wakes it.
        let dead = DEAD.bits.load(Ordering::SeqCst);
        if SEEN_DEAD.with(Cell::get) != dead {
            SEEN_DEAD.with(|c| c.set(dead));
            return FutexWait::Woken;
        }
        if let Some(t) = timeout {
            // Model "the timer fired before any wake".
            let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            FAKE_NOW.with(|c| c.set(c.get().saturating_add(ns.max(1))));
            return FutexWait::TimedOut;
        }
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.sleepers.push((addr, ticket));
        while queue.sleepers.iter().any(|&(_, t)| t == ticket) {
            queue = FUTEX.wakeups.wait(queue).unwrap();
        }
        FutexWait::Woken
    }

    /// The model of `FUTEX_WAKE`: wakes at most `count` sleepers of the
    /// word at `addr` (the oldest first), as the kernel does: a caller that
    /// wakes too few leaves the others asleep, and loom reports the deadlock.
    fn wake_on(addr: usize, count: u32) -> usize {
        let mut queue = FUTEX.queue.lock().unwrap();
        let mut woken = 0;
        queue.sleepers.retain(|&(a, _)| {
            if a == addr && woken < count {
                woken += 1;
                false
            } else {
                true
            }
        });
        if woken > 0 {
            FUTEX.wakeups.notify_all();
        }
        usize::try_from(woken).unwrap_or(usize::MAX)
    }

    pub(crate) fn current_thread() -> ThreadIdentity {
        // loom numbers its threads 0, 1, 2, … deterministically per
        // execution; its `Debug` output is the only public way to read it.
        let text = format!("{:?}", loom::thread::current().id());
        let n: u32 = text
            .trim_start_matches("ThreadId(")
            .trim_end_matches(')')
            .parse()
            .expect("loom ThreadId formats as ThreadId(n)");
        ThreadIdentity { tid: n + 1, start_time: 1 }
    }

    /// The model has no zombies or TID reuse: the quick check is the full one.
    pub(crate) fn thread_exists_quick(tid: u32) -> Liveness {
        thread_liveness(tid, 0)
    }

    /// Every arrival probes: the model has no liveness timer to fall back
    /// on for a waiter that sleeps after a death it was already woken for.
    pub(crate) fn arrival_probe_due() -> bool {
        true
    }

    pub(crate) fn thread_liveness(tid: u32, _start_time: u64) -> Liveness {
        let dead = tid < 64 && DEAD.bits.load(Ordering::SeqCst) & (1 << tid) != 0;
        if dead {
            Liveness::Dead
        } else {
            Liveness::Alive
        }
    }

    /// Marks the calling thread dead (as if its process were SIGKILLed) and
    /// wakes every futex waiter, standing for the liveness re-check timer
    /// that would fire in a real run. The caller must then return from its
    /// thread without touching shared state again.
    pub(crate) fn simulate_thread_death() {
        let tid = current_thread().tid;
        assert!(tid < 64, "loom models use few threads");
        // Set under the model's futex lock, so that every waiter either sees
        // the new bit in its pre-sleep check or is asleep and woken here.
        let mut queue = FUTEX.queue.lock().unwrap();
        DEAD.bits.fetch_or(1 << tid, Ordering::SeqCst);
        queue.sleepers.clear();
        FUTEX.wakeups.notify_all();
    }
}

pub(crate) use imp::*;

/// Test hooks for the loom models in `loom-tests/`. Not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_hooks {
    /// Marks the calling loom thread as dead, as if its process had been
    /// SIGKILLed, and wakes all futex waiters (their liveness timer firing).
    /// Call it right after leaking a guard, then return from the thread.
    pub fn simulate_thread_death() {
        super::imp::simulate_thread_death();
    }

    /// The futex model's wait, untimed: sleeps while `*word == expected`.
    /// Returns `true` if it slept and was woken, `false` if the value differed.
    pub fn futex_wait(word: &super::AtomicU32, expected: u32) -> bool {
        super::imp::futex_wait(word, expected, None) == super::FutexWait::Woken
    }

    /// The futex model's wake.
    pub fn futex_wake(word: &super::AtomicU32, count: u32) {
        super::imp::futex_wake(word, count);
    }
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

    #[cold]
    fn refresh() -> u32 {
        // SAFETY: sched_getcpu has no preconditions; it returns -1 (with
        // errno set) if the kernel cannot tell, which we map to CPU 0.
        let cpu = unsafe { libc::sched_getcpu() };
        u32::try_from(cpu).unwrap_or(0)
    }

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
