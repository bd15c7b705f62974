//! [`Backoff`]: what a waiter does between looking and sleeping, for every
//! primitive, with every budget (and its loom value) named here.
//!
//! A wait escalates: a few *spins* (a CPU hint, the line stays in this
//! core's cache), then a few *yields* (`sched_yield`: the CPU goes to
//! whoever else wants it, the owner first when the two share a CPU), then a
//! *sleep* — on the primitive's futex, which the caller does itself once
//! [`Backoff::is_completed`], or, for a wait that has nothing to sleep on
//! (an opener waiting for a creator's file lock), a randomized exponential
//! [`Backoff::sleep`]. The shape follows `crossbeam-utils`' `Backoff`
//! (`spin`/`snooze`/`is_completed`) and `parking_lot_core`'s `SpinWait`,
//! with budgets counted in steps rather than doubled: each caller's figures
//! were measured as counts (see "Why these backoff numbers" in
//! BENCHMARKS.md).
//!
//! Under loom every step is a loom yield, and extra re-reads only multiply
//! the interleavings a model explores: a budget is 0 there, or 1 where the
//! yielding path itself must stay covered.

#[cfg(not(loom))]
use core::time::Duration;

use super::{spin_loop, yield_now};

/// How many spins, then how many yields, a wait takes before it sleeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Steps that spin (a CPU hint), taken first.
    pub(crate) spins: u32,
    /// Steps that yield the CPU, taken after the spins.
    pub(crate) yields: u32,
}

/// Picks the normal or the loom value of a budget.
const fn budget(normal: Budget, loom: Budget) -> Budget {
    if cfg!(loom) {
        loom
    } else {
        normal
    }
}

/// A lock waiter (`RawMutex::lock_slow`, the rwlock's readers and writer,
/// the semaphore's acquirers, the barrier's parties: every `WakeSeq`
/// waiter) before it announces itself and sleeps: a few scheduler rounds,
/// no spin. A spinning waiter takes the lock line away from the owner on
/// every re-read and wins every hand-off; one that yields re-reads once per
/// round and, on a CPU it shares with the holder, runs the holder at once.
pub(crate) const LOCK_WAIT: Budget =
    budget(Budget { spins: 0, yields: 16 }, Budget { spins: 0, yields: 0 });

/// A hand-off waiter (`ShmCondvar` before it sleeps, and again on the
/// mutex after a notification; `ShmEvent` before it sleeps): a notifier
/// usually answers within a few scheduler rounds, and a waiter that is
/// still yielding then needs neither a futex sleep nor a wake-up. Under
/// loom one round keeps that path covered.
pub(crate) const HANDOFF: Budget =
    budget(Budget { spins: 0, yields: 64 }, Budget { spins: 0, yields: 1 });

/// A broadcast receiver waiting for the next value: a few microseconds of
/// spinning (one load of a stamp and a hint each; a value that arrives that
/// soon costs neither side a system call), then a few scheduler rounds, so
/// a sender on the same CPU runs.
pub(crate) const RECEIVE: Budget =
    budget(Budget { spins: 256, yields: 16 }, Budget { spins: 0, yields: 0 });

/// A seqlock reader retrying after a torn read: it never sleeps (a writer
/// never makes it wait), so it spins a little and then yields for as long
/// as writes keep tearing its reads, to let a writer on its CPU finish. The
/// first failed attempt is the fast path's, before any backoff, so 15 spins
/// here make 16 failed attempts before the first yield. Under loom a spin
/// is a loom yield already.
pub(crate) const SEQLOCK_READ: Budget = Budget { spins: 15, yields: 0 };

/// A segment opener retrying while another process holds the object's file
/// lock: there is no word to sleep on, so it goes straight to
/// [`Backoff::sleep`].
pub(crate) const OPEN_RETRY: Budget = Budget { spins: 0, yields: 0 };

/// One wait's progress through its [`Budget`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Backoff {
    budget: Budget,
    /// Steps taken: spins, yields, then sleeps.
    step: u32,
    /// The jitter of [`Backoff::sleep`] (xorshift32); 0 until the first
    /// sleep draws it, so the waits that never sleep make no system call.
    #[cfg(not(loom))]
    seed: u32,
}

impl Backoff {
    /// A wait that has not started backing off.
    #[inline]
    pub(crate) const fn new(budget: Budget) -> Self {
        Backoff {
            budget,
            step: 0,
            #[cfg(not(loom))]
            seed: 0,
        }
    }

    /// Whether the next [`snooze`](Self::snooze) spins rather than yields.
    #[inline]
    pub(crate) fn is_spinning(&self) -> bool {
        self.step < self.budget.spins
    }

    /// Whether the spins and yields are spent: time to sleep.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        self.step >= self.budget.spins.saturating_add(self.budget.yields)
    }

    /// One step: a spin while the spins last, else a yield (also past the
    /// budget, for a waiter that never sleeps).
    #[inline]
    pub(crate) fn snooze(&mut self) {
        if self.is_spinning() {
            spin_loop();
        } else {
            yield_now();
        }
        self.step = self.step.saturating_add(1);
    }

    /// Sleeps for a randomized, exponentially growing time (50 µs doubling
    /// up to 1.6 ms, each drawn from `[cap/2, 3·cap/2)`), so that two
    /// processes that collided do not collide again in lockstep. For waits
    /// that have no futex to sleep on.
    #[cfg(not(loom))]
    pub(crate) fn sleep(&mut self) {
        if self.seed == 0 {
            self.seed = crate::sys::process::getpid().wrapping_mul(0x9E37_79B9) | 1;
        }
        // xorshift32 jitter
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        let doublings = self.step.saturating_sub(self.budget.spins + self.budget.yields).min(5);
        let cap_us = 50u32 << doublings; // 50 µs .. 1.6 ms
        self.step = self.step.saturating_add(1);
        std::thread::sleep(Duration::from_micros(u64::from(cap_us / 2 + self.seed % cap_us)));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every caller's figures, pinned: a change here moves a benchmark.
    #[test]
    fn budgets_are_the_measured_ones() {
        assert_eq!(LOCK_WAIT, Budget { spins: 0, yields: 16 });
        assert_eq!(HANDOFF, Budget { spins: 0, yields: 64 });
        assert_eq!(RECEIVE, Budget { spins: 256, yields: 16 });
        assert_eq!(SEQLOCK_READ, Budget { spins: 15, yields: 0 });
        assert_eq!(OPEN_RETRY, Budget { spins: 0, yields: 0 });
    }

    #[test]
    fn spins_then_yields_then_completes() {
        let mut b = Backoff::new(Budget { spins: 2, yields: 3 });
        let mut spins = 0;
        let mut steps = 0;
        while !b.is_completed() {
            spins += u32::from(b.is_spinning());
            b.snooze();
            steps += 1;
        }
        assert_eq!((spins, steps), (2, 5));
        // Past the budget a snooze still yields and stays completed.
        b.snooze();
        assert!(b.is_completed() && !b.is_spinning());
    }

    #[test]
    fn an_empty_budget_is_completed_at_once() {
        assert!(Backoff::new(OPEN_RETRY).is_completed());
    }

    #[test]
    fn sleeps_grow_and_stay_bounded() {
        let mut b = Backoff::new(OPEN_RETRY);
        let t = std::time::Instant::now();
        for _ in 0..3 {
            b.sleep();
        }
        // 25..75 µs + 50..150 µs + 100..300 µs, and sleep never returns early.
        assert!(t.elapsed() >= Duration::from_micros(175));
        assert_ne!(b.seed, 0);
    }
}
