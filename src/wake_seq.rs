//! [`WakeSeq`]: a futex word for waits whose condition lives in other
//! words (the readers of a [`ShmRwLock`](crate::ShmRwLock) waiting for its
//! writer, its writer waiting for the readers to leave, acquirers of a
//! [`ShmSemaphore`](crate::ShmSemaphore) waiting for a permit).
//!
//! | bits | field | meaning |
//! |---|---|---|
//! | 0..31 | sequence | bumped (wrapping) by every wake |
//! | 31 | `SLEEPERS` | a waiter may be asleep on the word: the next change of the condition must wake |
//!
//! Zero is "nobody asleep". The protocol is the futex's with a Dekker pair
//! around it:
//!
//! * a waiter sets `SLEEPERS` (one RMW, [`prepare`](WakeSeq::prepare)),
//!   then `fence(SeqCst)`, then re-checks its condition, and sleeps only
//!   while the word still holds the value it set;
//! * whoever changes the condition does so with an RMW, then
//!   `fence(SeqCst)`, then reads the word ([`notify`](WakeSeq::notify)): if
//!   `SLEEPERS` is set it bumps the sequence, clearing the flag, and wakes
//!   every sleeper.
//!
//! Of the two fences one comes first: either the waiter's re-check sees
//! the change (it does not sleep), or the notifier sees the flag (the
//! bump makes the waiter's futex comparison fail, or wakes it). A waker
//! that dies between its change and its wake leaves the flag set; the
//! sleepers' sleeps are bounded (the re-check interval), and the next
//! notify wakes them. A waiter that dies leaves at most a flag, which
//! costs the next notifier one futex wake.
//!
//! Every sleeper is woken (they re-check and go back to sleep, setting the
//! flag again), because the flag cannot say how many there are: a count
//! would be left wrong by a waiter killed while counted.

use crate::sync::{
    fence, futex_wait, futex_wake, sleep_watched_seq, AtomicU32, FutexWait, Instant, Ordering,
    SleepPlan, LIVENESS_RECHECK, WATCHED_RECHECK,
};

/// A waiter may be asleep on the word.
pub(crate) const SLEEPERS: u32 = 1 << 31;

/// See the module docs.
#[repr(transparent)]
pub(crate) struct WakeSeq {
    word: AtomicU32,
}

/// Whether an operation may wait, and until when (`None`: forever).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// `try_*`: never sleeps (a dead holder is still taken over).
    No,
    /// Sleeps as long as needed, up to the deadline.
    Until(Option<Instant>),
}

/// The deadline passed before the sleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expired;

impl WakeSeq {
    crate::sync::const_unless_loom! {
        /// Nobody asleep (the same as zeroed memory).
        pub(crate) const fn new() -> Self {
            WakeSeq { word: AtomicU32::new(0) }
        }
    }

    /// The waiter's first step: flags a sleeper and returns the value to
    /// sleep on. The caller must then re-check its condition (the fence
    /// here orders that re-check after the flag) and sleep only if it
    /// still holds.
    pub(crate) fn prepare(&self) -> u32 {
        // An RMW even when the flag is set already: the Dekker argument
        // needs this waiter's own write before its fence. Relaxed: the
        // fence orders it.
        let v = self.word.fetch_or(SLEEPERS, Ordering::Relaxed) | SLEEPERS;
        // SeqCst: pairs with the fence in `notify`.
        fence(Ordering::SeqCst);
        v
    }

    /// The notifier's step, after changing the condition with an RMW:
    /// wakes every sleeper if one is flagged. One fence and one load when
    /// nobody sleeps.
    #[inline]
    pub(crate) fn notify(&self) {
        // SeqCst: pairs with the fence in `prepare`.
        fence(Ordering::SeqCst);
        // Relaxed: only decides whether to wake; the condition's own words
        // carry the data.
        if self.word.load(Ordering::Relaxed) & SLEEPERS != 0 {
            self.wake_all();
        }
    }

    #[cold]
    fn wake_all(&self) {
        // Relaxed: a sleeper only needs to see the word change.
        let bumped = self.word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            (v & SLEEPERS != 0).then(|| ((v & !SLEEPERS).wrapping_add(1)) & !SLEEPERS)
        });
        if bumped.is_ok() {
            futex_wake(&self.word, u32::MAX);
        }
    }

    /// Sleeps while the word is `expected` (the value [`prepare`](Self::prepare)
    /// returned), as `plan` says: until a notify, the death of the watched
    /// owner (`Watched`), the re-check interval (the liveness interval for
    /// `Poll`, the watched safety net otherwise: every sleep is bounded, so
    /// a missed wake or death is found) or `deadline`.
    ///
    /// Returns whether the caller should judge the owners it waits for
    /// before it sleeps again: after the re-check interval ran out, and
    /// under loom (whose sleeps are untimed: any wake may stand for the
    /// timer).
    ///
    /// # Errors
    ///
    /// [`Expired`] if `deadline` has passed (it does not sleep then).
    pub(crate) fn sleep(
        &self,
        expected: u32,
        plan: SleepPlan,
        deadline: Option<Instant>,
    ) -> Result<bool, Expired> {
        let recheck = match plan {
            SleepPlan::Poll => LIVENESS_RECHECK,
            _ => LIVENESS_RECHECK.map(|_| WATCHED_RECHECK),
        };
        let timeout = match deadline {
            None => recheck,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Expired);
                }
                Some(recheck.map_or(left, |r| r.min(left)))
            }
        };
        let woke = match plan {
            SleepPlan::Watched { epoch } => sleep_watched_seq(&self.word, expected, epoch, timeout),
            _ => futex_wait(&self.word, expected, timeout),
        };
        Ok(woke == FutexWait::TimedOut || LIVENESS_RECHECK.is_none())
    }

    /// The raw word, for tests.
    #[cfg(test)]
    pub(crate) fn load_relaxed(&self) -> u32 {
        // Relaxed: a diagnostic.
        self.word.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn notify_bumps_only_when_flagged_and_clears_the_flag() {
        let w = WakeSeq::new();
        w.notify();
        assert_eq!(w.load_relaxed(), 0, "nobody flagged: nothing written");
        let v = w.prepare();
        assert_eq!(v, SLEEPERS);
        assert_eq!(w.prepare(), v, "a second sleeper sleeps on the same value");
        w.notify();
        assert_eq!(w.load_relaxed(), 1);
        // The sleep returns at once: the value moved.
        assert_eq!(w.sleep(v, SleepPlan::Never, None), Ok(false));
    }

    #[test]
    fn the_sequence_wraps_within_31_bits() {
        let w = WakeSeq { word: AtomicU32::new(SLEEPERS | (SLEEPERS - 1)) };
        w.notify();
        assert_eq!(w.load_relaxed(), 0);
    }

    #[test]
    fn sleep_honors_the_deadline() {
        let w = WakeSeq::new();
        let v = w.prepare();
        let past = Instant::now();
        assert_eq!(w.sleep(v, SleepPlan::Never, Some(past)), Err(Expired));
        let soon = Instant::now() + Duration::from_millis(2);
        let mut slept = 0;
        while w.sleep(v, SleepPlan::Poll, Some(soon)).is_ok() {
            slept += 1;
        }
        assert!(slept >= 1);
        assert!(Instant::now() >= soon);
    }
}
