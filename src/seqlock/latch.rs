//! The seqlock's publication protocol: a `u64` sequence and two copies of
//! the value, written alternately (a "latch", after Linux's
//! `write_seqcount_latch`).
//!
//! # State
//!
//! | word | meaning |
//! |---|---|
//! | `seq` (`u64`) | number of completed writes since creation (wrapping; a zeroed lock has 0) |
//! | `copies[seq & 1]` | the *published* copy: the last complete value; readers read only this one |
//! | `copies[!seq & 1]` | the *spare* copy: the previous value, or a write in progress, or the remains of a writer that died |
//!
//! Transitions (only the holder of the writer lock makes them):
//!
//! | step | `seq` | published | spare |
//! |---|---|---|---|
//! | idle | `s` | value `v_s` | `v_{s-1}` |
//! | writer copies `v_{s+1}` into the spare (relaxed words, after a release fence) | `s` | `v_s` | partly `v_{s+1}`: torn |
//! | writer publishes: `seq = s + 1` (release) | `s + 1` | `v_{s+1}` | `v_s` |
//!
//! A writer killed anywhere in the middle step leaves `seq` and the published
//! copy untouched: readers go on returning `v_s`, and the next writer simply
//! overwrites the torn spare. A writer killed after the publishing store has
//! completed its write. So there is no state in which readers wait for a
//! writer, and nothing to repair after a writer's death.
//!
//! Unlike the kernel's latch, which writes both copies per update, each write
//! here fills only the spare copy: half the writer's work, same guarantee.
//!
//! # Orderings (Boehm's fence-based seqlock, adapted to two copies)
//!
//! Reader: `s1 = seq.load(Acquire)`; load `copies[s1 & 1]` word by word,
//! relaxed; `fence(Acquire)`; `s2 = seq.load(Relaxed)`; accept iff
//! `s1 == s2`.
//!
//! Writer (holding the lock): `s = seq.load(Acquire)`; `fence(Release)`;
//! store `copies[(s + 1) & 1]` word by word, relaxed; `seq.store(s + 1,
//! Release)`.
//!
//! * A reader that read `s1` from the writer's release store sees that
//!   writer's (and every earlier writer's) stores to the copy it publishes.
//! * A reader's copy can only be overwritten by a *later* writer, one that
//!   loaded `seq = s1 + 1` or more before its release fence. If any word the
//!   reader loaded came from such a writer, that writer's release fence
//!   synchronizes with the reader's acquire fence, so the store of `s1 + 1`
//!   happens before the reader's second load, which therefore returns
//!   something other than `s1`, and the read is retried. A reader that
//!   returns never returns a mix of two writes.
//! * Values never go backwards for one reader: its successive acquire loads
//!   of `seq` read non-decreasing points of `seq`'s modification order.

use super::atomic_copy::{AtomicCopy, AtomicWords};
use crate::sync::{fence, AtomicU64, Ordering};
use crate::CachePadded;
use bytemuck::Pod;

/// The two-copy publication protocol. Any number of readers; writers must be
/// serialized by the caller (the `SeqLock`'s writer lock). Valid when zeroed:
/// `seq = 0` publishes copy 0, which holds `T`'s all-zero value.
#[repr(C)]
pub(crate) struct Latch<T> {
    /// The sequence word, alone on its cache line: readers share it
    /// read-only while no write is in progress, and a writer's lock traffic
    /// (on another line) does not disturb them.
    seq: CachePadded<AtomicU64>,
    copies: [AtomicCopy<T>; 2],
}

impl<T: Pod> Latch<T> {
    crate::sync::const_unless_loom! {
        /// A latch publishing `value` at sequence 0 (both copies hold it).
        pub(crate) const fn new(value: T) -> Self {
            Self {
                seq: CachePadded::new(AtomicU64::new(0)),
                copies: [
                    CachePadded::new(AtomicWords::new(value)),
                    CachePadded::new(AtomicWords::new(value)),
                ],
            }
        }
    }

    /// The copy that sequence number `seq` publishes.
    #[inline(always)]
    fn copy(&self, seq: u64) -> &AtomicCopy<T> {
        // `seq & 1` is 0 or 1 whatever `seq` holds (every u64 is a valid
        // sequence number, even one written by a corrupt peer).
        &self.copies[(seq & 1) as usize]
    }

    /// One read attempt: the value copied and the sequence numbers loaded
    /// before and after copying. The value is a complete write iff they are
    /// equal (otherwise a torn but valid `T`, to be discarded). A plain
    /// tuple rather than an `Option` lets the compiler keep a small `T` in
    /// registers and store it once, straight into the caller's result.
    #[inline(always)]
    pub(crate) fn read_attempt(&self) -> (T, u64, u64) {
        // acquire: pairs with the release store of `seq` in `publish`; the
        // copy that `s1` names is fully written once we see `s1`.
        let s1 = self.seq.load(Ordering::Acquire);
        let value = self.copy(s1).load();
        // acquire fence: pairs with the release fence in `publish`; if any
        // word above came from a later writer, the store of `seq` that
        // preceded that writer is visible to the load below.
        fence(Ordering::Acquire);
        // relaxed: ordered after the word loads by the fence above.
        let s2 = self.seq.load(Ordering::Relaxed);
        (value, s1, s2)
    }

    /// One read attempt: the published value and its sequence number, or
    /// `None` if a write completed while we were copying.
    #[inline(always)]
    pub(crate) fn try_read(&self) -> Option<(T, u64)> {
        let (value, s1, s2) = self.read_attempt();
        (s1 == s2).then_some((value, s1))
    }

    /// The number of completed writes (wrapping).
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        // acquire: pairs with the release store in `publish`, so a caller
        // that sees version `n` also sees what was written before write `n`.
        self.seq.load(Ordering::Acquire)
    }

    /// The published value, for the writer. Must be called with the writer
    /// lock held (no write can be in progress, so one attempt suffices).
    pub(crate) fn current_for_writer(&self) -> T {
        // acquire: pairs with the release store in the previous `publish`,
        // also when that writer died before unlocking.
        let s = self.seq.load(Ordering::Acquire);
        self.copy(s).load()
    }

    /// Copies `value` into the spare copy and publishes it. Returns the new
    /// sequence number. Must be called with the writer lock held: two
    /// concurrent `publish`es would fill one spare copy together. (That
    /// would produce torn values, never undefined behaviour: `T: Pod`.)
    #[inline]
    pub(crate) fn publish(&self, value: &T) -> u64 {
        let next = self.begin_write();
        self.copy(next).store(value);
        self.end_write(next);
        next
    }

    /// First half of `publish`: returns the sequence number to publish,
    /// whose copy (the spare) may now be overwritten.
    #[inline(always)]
    fn begin_write(&self) -> u64 {
        // acquire: pairs with the previous writer's release store of `seq`.
        // Defence in depth: a clean unlock already orders us after it, and
        // so does the proof that a writer which died without unlocking is
        // dead (it goes through the kernel; in the loom model through a
        // SeqCst flag), which is why the loom models still pass when this
        // load is weakened to relaxed.
        let s = self.seq.load(Ordering::Acquire);
        // release fence: pairs with the reader's acquire fence in
        // `try_read`. The spare copy we are about to overwrite was published
        // by `s - 1`; a reader still copying it read `seq = s - 1`. If it
        // loads any word we store below, the store of `s` (visible to us:
        // acquire above) becomes visible to its second load of `seq`, which
        // then differs from its first: it retries.
        fence(Ordering::Release);
        s.wrapping_add(1)
    }

    /// Second half of `publish`.
    #[inline(always)]
    fn end_write(&self, next: u64) {
        // release: pairs with the acquire loads of `seq` in `try_read`,
        // `version` and `current_for_writer`: whoever sees `next` sees the
        // whole copy stored before it.
        self.seq.store(next, Ordering::Release);
    }

    /// Loom death models: a writer that stores only `words` words of the
    /// spare copy and then dies (never publishes).
    #[cfg(loom)]
    pub(crate) fn publish_torn(&self, value: &T, words: usize) {
        let next = self.begin_write();
        self.copy(next).store_prefix(value, words);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn zeroed_latch_publishes_zero() {
        // SAFETY: a Latch of a Pod type is valid when zeroed (seq 0, copy 0
        // all zero); the test checks that it reads as zero.
        let latch: Latch<[u64; 4]> = unsafe { core::mem::zeroed() };
        assert_eq!(latch.try_read(), Some(([0; 4], 0)));
    }

    #[test]
    fn writes_alternate_copies_and_bump_the_sequence() {
        let latch = Latch::new([1u32; 3]);
        assert_eq!(latch.publish(&[2; 3]), 1);
        assert_eq!(latch.copies[1].load(), [2; 3]);
        assert_eq!(latch.copies[0].load(), [1; 3], "the previous value stays in the spare");
        assert_eq!(latch.publish(&[3; 3]), 2);
        assert_eq!(latch.copies[0].load(), [3; 3]);
        assert_eq!(latch.try_read(), Some(([3; 3], 2)));
        assert_eq!(latch.version(), 2);
        assert_eq!(latch.current_for_writer(), [3; 3]);
    }

    #[test]
    fn a_torn_spare_copy_is_never_read() {
        let latch = Latch::new([7u64; 2]);
        // A writer that died half-way through the spare copy.
        latch.copies[1].store(&[8, 0xDEAD]);
        assert_eq!(latch.try_read(), Some(([7; 2], 0)));
        // The next writer overwrites it whole.
        latch.publish(&[9; 2]);
        assert_eq!(latch.try_read(), Some(([9; 2], 1)));
    }

    #[test]
    fn sequence_wraps_without_panicking() {
        let latch = Latch::new(0u16);
        latch.seq.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(latch.publish(&5), 0);
        assert_eq!(latch.try_read(), Some((5, 0)));
    }
}
