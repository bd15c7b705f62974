//! One slot of the ring: a stamp word that says which value the slot holds
//! and whether a sender is writing it, and the value itself as relaxed
//! atomic words ([`AtomicWords`]), on one cache line for a small value.
//!
//! # The stamp
//!
//! Slot `i` of a ring of `N` holds the values numbered `i`, `i + N`,
//! `i + 2N`, … in turn. Its stamp names the one it holds:
//!
//! | stamp | name | meaning |
//! |---|---|---|
//! | `0` | empty | never written: the zeroed state |
//! | `2s + 2` (even) | `done(s)` | holds value `s`, complete |
//! | `2s + 3` (odd) | `writing(s)` | a sender is writing value `s`, or died doing so: the bytes are torn |
//! | `1` | — | written by nothing in this crate; read like empty |
//!
//! A slot's stamp only grows (`done(s) < writing(s + N)`), and `s` stays
//! below [`MAX_SEQ`](super::head::MAX_SEQ), so the arithmetic never
//! overflows.
//!
//! # Writing (the holder of the sender lock, for `s` = the sequence word)
//!
//! | step | stamp | value bytes |
//! |---|---|---|
//! | before | `done(s - N)` (or empty) | value `s - N` |
//! | `stamp = writing(s)` (release), then a release fence | `writing(s)` | value `s - N` |
//! | relaxed word stores | `writing(s)` | torn: part `s - N`, part `s` |
//! | `stamp = done(s)` (release) | `done(s)` | value `s` |
//!
//! A sender killed in the middle leaves `writing(s)`: readers treat value
//! `s` as not sent yet, and the next sender writes the slot again from the
//! start (see `head.rs`). Value `s - N` was gone from the first store on.
//!
//! # Reading (a receiver whose next value is `c`)
//!
//! | stamp seen (acquire) | verdict |
//! |---|---|
//! | `done(c)` | copy the words (relaxed), acquire fence, load the stamp again (relaxed): unchanged → value `c`, whole; changed → a sender overwrote it meanwhile: `Gone` |
//! | below `done(c)`, or `writing(c)` | `NotYet`: value `c` is not complete |
//! | above `writing(c)` | `Gone`: the slot holds a later value; `c` was overwritten |
//!
//! This is Boehm's seqlock read per slot. If any word the reader copied was
//! stored by a later sender, that sender's release fence (after its
//! `writing` store) synchronizes with the reader's acquire fence, so the
//! second load sees `writing(c + N)` or later and the copy is dropped. A
//! reader that sees `done(c)` (acquire) sees every word stored before it
//! (release). So a value is returned whole or not at all.

use super::mutant::{mutated, ordering};
use crate::seqlock::atomic_copy::AtomicWords;
use crate::sync::{fence, AtomicU64, Ordering};
use bytemuck::Pod;

/// The stamp of a slot holding value `seq`, complete. Callers keep `seq`
/// below `MAX_SEQ`, where this is exact; wrapping, so that no value can
/// make it panic.
#[inline(always)]
pub(crate) const fn done(seq: u64) -> u64 {
    seq.wrapping_mul(2).wrapping_add(2)
}

/// The stamp of a slot whose value `seq` is being written (exact below
/// `MAX_SEQ`, wrapping above).
#[inline(always)]
pub(crate) const fn writing(seq: u64) -> u64 {
    seq.wrapping_mul(2).wrapping_add(3)
}

/// The value a stamp names (complete or being written), `None` for an
/// empty slot. Defined for every `u64`: a stamp is untrusted.
#[inline]
pub(crate) const fn seq_of(stamp: u64) -> Option<u64> {
    if stamp < 2 {
        None
    } else {
        Some((stamp - 2) / 2)
    }
}

/// What one read attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read<T> {
    /// Value `c`, whole.
    Got(T),
    /// Value `c` is not complete yet.
    NotYet,
    /// Value `c` was overwritten by a later one.
    Gone,
}

/// One slot, starting a cache line: the stamp, then the value's words.
/// Valid when zeroed (empty, value all zeros).
///
/// The alignment is the ring's format rather than padding beside a value:
/// `Broadcast`'s docs promise that every slot starts a line, so the slots'
/// stride is whole lines (slot `i` at `64 + i * size_of::<Slot<T>>()`),
/// and the ring's size and fingerprint record it. That a small value's
/// read touches one line, and writes to the next slot none of it, follows.
#[repr(C, align(64))]
pub(crate) struct Slot<T> {
    /// See the module's state table.
    stamp: AtomicU64,
    value: AtomicWords<T>,
}

impl<T: Pod> Slot<T> {
    /// An empty slot (the same as zeroed). A constant rather than a
    /// `const fn` so that `[Slot::EMPTY; N]` can build the ring in a
    /// `const fn` on Rust 1.78; every use is a fresh value, never shared.
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)]
    pub(crate) const EMPTY: Self = Self {
        stamp: AtomicU64::new(0),
        // SAFETY: `T: Pod`, so all-zero bytes are a valid `T`.
        value: AtomicWords::new(unsafe { core::mem::zeroed() }),
    };

    /// An empty slot (loom atomics have no `const` constructor).
    #[cfg(loom)]
    pub(crate) fn empty() -> Self {
        Self { stamp: AtomicU64::new(0), value: AtomicWords::new(T::zeroed()) }
    }

    /// Stores value `seq`. The caller holds the sender lock, and `seq` is
    /// the sequence word's value, below `MAX_SEQ`.
    #[inline]
    pub(crate) fn write(&self, seq: u64, value: &T) {
        self.begin(seq);
        self.value.store(value);
        // release: pairs with the acquire load of the stamp in `read`;
        // whoever sees `done(seq)` sees every word stored above.
        self.stamp.store(done(seq), ordering(Ordering::Release, "done-relaxed"));
    }

    /// Marks the slot as being written with `seq`: from here on its old
    /// value is gone.
    #[inline(always)]
    fn begin(&self, seq: u64) {
        // release: pairs with the acquire re-load of the stamp in a lagged
        // receiver (`Broadcast::skip_lost`): whoever sees `writing(seq)`
        // also sees the sequence word at `seq` or later, stored before this
        // sender took the lock, so its count of lost values is exact.
        self.stamp.store(writing(seq), Ordering::Release);
        // release fence: pairs with the acquire fence in `read`. A reader
        // that loads any word stored below sees `writing(seq)` (or later)
        // in its second stamp load, and drops its copy.
        if !mutated("no-begin-fence") {
            fence(Ordering::Release);
        }
    }

    /// One read attempt of value `c`. Never waits.
    #[inline(always)]
    pub(crate) fn read(&self, c: u64) -> Read<T> {
        // acquire: pairs with the release store of `done` in `write`.
        let first = self.stamp.load(Ordering::Acquire);
        if first != done(c) {
            // Above `writing(c)`: a later value. Otherwise not complete.
            return if first > writing(c) { Read::Gone } else { Read::NotYet };
        }
        let value = self.value.load();
        // acquire fence: pairs with the release fence in `begin`; if a word
        // above came from a later sender, its `writing` store is visible
        // to the load below.
        if !mutated("no-read-fence") {
            fence(Ordering::Acquire);
        }
        // relaxed: ordered after the word loads by the fence above.
        let second = self.stamp.load(Ordering::Relaxed);
        if second == first || mutated("no-recheck") {
            Read::Got(value)
        } else {
            Read::Gone
        }
    }

    /// The stamp, for a receiver that found its value gone (acquire: see
    /// `begin`) and for the sender repairing after a death.
    #[inline]
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp.load(Ordering::Acquire)
    }

    /// Loom death models: a sender that marks the slot, stores only
    /// `words` words of `value`, and dies.
    #[cfg(loom)]
    pub(crate) fn write_torn(&self, seq: u64, value: &T, words: usize) {
        self.begin(seq);
        self.value.store_prefix(value, words);
    }

    /// Tests: overwrite the stamp as a broken peer could.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_stamp(&self, stamp: u64) {
        self.stamp.store(stamp, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stamps_order_as_the_table_says() {
        assert_eq!(seq_of(0), None);
        assert_eq!(seq_of(1), None);
        assert_eq!(seq_of(done(0)), Some(0));
        assert_eq!(seq_of(writing(7)), Some(7));
        assert_eq!(seq_of(u64::MAX), Some((u64::MAX - 2) / 2));
        assert!(done(3) < writing(3) && writing(3) < done(4));
    }

    #[test]
    fn a_slot_reads_as_the_table_says() {
        let slot = Slot::<[u64; 2]>::EMPTY;
        assert_eq!(slot.read(0), Read::NotYet, "empty");
        slot.write(0, &[5, 5]);
        assert_eq!(slot.read(0), Read::Got([5, 5]));
        // The same slot, two laps later (N = 4): 0 is gone, 8 is not yet.
        slot.set_stamp(writing(4));
        assert_eq!(slot.read(0), Read::Gone);
        assert_eq!(slot.read(4), Read::NotYet, "a write in progress");
        slot.write(4, &[6, 6]);
        assert_eq!(slot.read(4), Read::Got([6, 6]));
        assert_eq!(slot.read(8), Read::NotYet);
        assert_eq!(slot.read(0), Read::Gone);
    }

    #[test]
    fn garbage_stamps_never_panic() {
        let slot = Slot::<u32>::EMPTY;
        for stamp in [1, u64::MAX, u64::MAX - 1, 1 << 63, done(1 << 62)] {
            slot.set_stamp(stamp);
            for c in [0, 1, 1 << 40, (1 << 62) - 1] {
                let _ = slot.read(c);
            }
        }
    }

    #[test]
    fn a_slot_of_a_small_value_is_one_line() {
        assert_eq!(core::mem::size_of::<Slot<u64>>(), 64);
        assert_eq!(core::mem::size_of::<Slot<[u64; 7]>>(), 64);
        assert_eq!(core::mem::size_of::<Slot<[u64; 8]>>(), 128);
        assert_eq!(core::mem::size_of::<Slot<()>>(), 64);
    }
}
