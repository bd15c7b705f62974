//! How receivers sleep and senders wake them, with no system call in a
//! send that nobody waits for.
//!
//! # The word
//!
//! One `u32`, the futex receivers sleep on: bit 0 is `SLEEPERS` (a receiver
//! may be asleep, or about to sleep), bits 1..32 a generation that every
//! wake-up advances. Zero (nobody asleep, generation 0) is the zeroed state;
//! any other value is valid too.
//!
//! | who | does | ordering |
//! |---|---|---|
//! | a receiver that found nothing | `w = word \| SLEEPERS` (`fetch_or`); looks at `tail` again; if nothing new, sleeps while `word == w`, at most `RECV_RECHECK` | acquire |
//! | every sender, after `tail = t + 1`, still holding the sender lock | `prev = word & !SLEEPERS` (`fetch_and`) | release |
//! | a sender whose `prev` had `SLEEPERS` | generation + 1 (`fetch_add(2)`), then wakes every sleeper | relaxed |
//! | a sender taking over from a dead one | generation + 1, wakes every sleeper | relaxed |
//!
//! A sender whose `fetch_and` finds no `SLEEPERS` makes no system call: the
//! uncontended send path is the lock's two CASes, the stores, and this one
//! RMW on a line the sender already owns.
//!
//! # Why no wakeup is lost
//!
//! The two read-modify-writes on the word are ordered (its modification
//! order). If the receiver's `fetch_or` comes first, the sender's
//! `fetch_and` (or an earlier sender's) sees `SLEEPERS` and changes the
//! generation before waking: a receiver that has not reached its futex wait
//! yet finds the word changed and does not sleep, one already asleep is
//! woken. If the sender's `fetch_and` comes first, the receiver's `fetch_or`
//! reads its result (RMWs continue its release sequence), so the sender's
//! `tail` store happens before the receiver's second look at `tail`, which
//! sees the new value and does not sleep. Two RMWs rather than a store and a
//! load: store-then-load ordering would need `SeqCst` fences on both sides,
//! and the RMW costs the sender about the same as one.
//!
//! The generation is what makes the futex wait safe when several receivers
//! announce: after a sender cleared `SLEEPERS`, another receiver may set it
//! again, restoring the very value the first one is about to wait on; the
//! generation step keeps that value from coming back (until 2^31 wake-ups
//! later, which the bounded sleep covers too).
//!
//! A sender killed between its `done` store and its wake-up (it may have
//! cleared `SLEEPERS` already) leaves sleepers asleep. It dies holding the
//! sender lock, so the next sender, which repairs the ring, wakes every
//! sleeper unconditionally. If no sender comes, the receivers' bounded
//! sleep (`RECV_RECHECK`) finds the value it left.

use crate::sync::{futex_wait, futex_wake, AtomicU32, FutexWait, Ordering};
use core::time::Duration;

/// Set while a receiver may be asleep on the word.
const SLEEPERS: u32 = 1;
/// One generation step (bits 1..32).
const GENERATION: u32 = 2;

/// The receivers' futex word (see the module docs).
#[repr(transparent)]
pub(crate) struct WakeWord(AtomicU32);

impl WakeWord {
    crate::sync::const_unless_loom! {
        /// Nobody asleep (the same as zeroed).
        pub(crate) const fn new() -> Self {
            Self(AtomicU32::new(0))
        }
    }

    /// A receiver announces that it is about to sleep; returns the value to
    /// sleep on. The caller must look for new values after this and before
    /// [`sleep`](Self::sleep).
    #[inline]
    pub(crate) fn announce(&self) -> u32 {
        // acquire: pairs with the release `fetch_and` in `wake_sleepers`:
        // if ours comes after a sender's, that sender's `tail` store is
        // visible to our next look at `tail`.
        let order = super::mutant::ordering(Ordering::Acquire, "wake-relaxed");
        self.0.fetch_or(SLEEPERS, order) | SLEEPERS
    }

    /// Sleeps while the word is `announced`, at most `timeout` (untimed if
    /// `None`). Spurious returns are allowed: the caller looks again.
    pub(crate) fn sleep(&self, announced: u32, timeout: Option<Duration>) -> FutexWait {
        futex_wait(&self.0, announced, timeout)
    }

    /// A sender, after storing `tail`: wakes every sleeping receiver, with a
    /// system call only if one announced itself.
    #[inline]
    pub(crate) fn wake_sleepers(&self) {
        if super::mutant::mutated("no-wake") {
            return;
        }
        // release: pairs with the acquire `fetch_or` in `announce` (see the
        // module docs: whichever RMW comes second learns of the other).
        let order = super::mutant::ordering(Ordering::Release, "wake-relaxed");
        let prev = self.0.fetch_and(!SLEEPERS, order);
        if prev & SLEEPERS != 0 {
            self.wake_all();
        }
    }

    /// Wakes every sleeping receiver, whether or not one announced itself:
    /// a sender that takes over from a dead one, which may have cleared
    /// `SLEEPERS` without waking anyone.
    #[cold]
    pub(crate) fn wake_all(&self) {
        // relaxed: the futex call re-reads the word in the kernel; the data
        // travels through `tail` and the stamps, ordered above. A new
        // generation, so that a receiver about to sleep on the old value
        // does not.
        self.0.fetch_add(GENERATION, Ordering::Relaxed);
        futex_wake(&self.0, u32::MAX);
    }
}
