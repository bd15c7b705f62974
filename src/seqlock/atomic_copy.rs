//! [`AtomicWords`] and [`AtomicCopy`]: a `T` that is only ever read and written as
//! relaxed atomic words, so that a reader racing a writer is not a data race.
//!
//! # Why atomics and not volatile reads
//!
//! A seqlock reader copies the data while a writer may be overwriting it and
//! throws the copy away if a write overlapped. With plain or volatile
//! accesses that overlap is a data race, which the Rust memory model makes
//! undefined behaviour *even if the result is discarded*. Relaxed atomic
//! accesses may race; they only promise per-word atomicity, which is all a
//! seqlock needs (the sequence check rejects mixed words). This is the
//! approach of Boehm's "Can Seqlocks Get Along With Programming Language
//! Memory Models?" and of the `atomic-memcpy` crate.
//!
//! # How a `T` is cut into atomics
//!
//! [`AtomicWords`] holds the `T`, `#[repr(C, align(8))]`: its bytes start
//! 8-aligned whatever `T`'s own alignment. Its `size_of::<T>()` bytes are
//! accessed as consecutive `AtomicU64` words, then, for a size that is not a
//! multiple of 8, at most one `AtomicU32`, one `AtomicU16` and one
//! `AtomicU8`, each naturally aligned. Every process cuts a given `T` the
//! same way, so there are never mixed-size atomic accesses to one location.
//! Bytes past `size_of::<T>()` (padding up to the alignment) are never
//! touched. Any size works, including sizes that are not a multiple of 8
//! and zero.
//!
//! [`AtomicCopy`] is the seqlock's copy: the same, [`CachePadded`] to start
//! a cache line, so that the two copies of a seqlock never share one. A broadcast slot puts its stamp word and an `AtomicWords` on one
//! line instead, so that a reader of a small value touches one line.
//!
//! Every access uses `Relaxed`; the seqlock's fences order them.
//!
//! Under loom (whose atomics cannot be created from pointers) a copy is a
//! boxed slice of loom `AtomicU64` holding `T`'s bytes zero-padded to whole
//! words; the access pattern the model checks is the same (word by word,
//! relaxed).

use crate::CachePadded;
use bytemuck::Pod;

#[cfg(not(loom))]
pub(crate) use real::AtomicWords;

#[cfg(loom)]
pub(crate) use model::AtomicWords;

/// One copy of a `T` starting a cache line: the seqlock's copies. Its
/// `load` and `store` are those of [`AtomicWords`], through `Deref`.
///
/// Valid when zeroed if `T` is (every `Pod` type is).
pub(crate) type AtomicCopy<T> = CachePadded<AtomicWords<T>>;

#[cfg(not(loom))]
mod real {
    use super::Pod;
    use crate::sync::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
    use core::cell::UnsafeCell;
    use core::mem::{size_of, MaybeUninit};

    /// One copy of a `T`, read and written only as relaxed atomics.
    ///
    /// Valid when zeroed if `T` is (every `Pod` type is).
    #[repr(C, align(8))]
    pub(crate) struct AtomicWords<T> {
        bytes: UnsafeCell<T>,
    }

    impl<T: Pod> AtomicWords<T> {
        /// A copy holding `value`. Not yet shared, so no atomics are needed.
        pub(crate) const fn new(value: T) -> Self {
            Self { bytes: UnsafeCell::new(value) }
        }

        /// Reads the copy as relaxed atomic words. The result may mix words
        /// of different writes if a writer is active; it is always a valid
        /// `T` because `T: Pod` accepts every bit pattern.
        #[inline(always)]
        pub(crate) fn load(&self) -> T {
            let mut out = MaybeUninit::<T>::uninit();
            let src = self.bytes.get().cast::<u8>();
            let dst = out.as_mut_ptr().cast::<u8>();
            let size = size_of::<T>();
            let mut at = 0;
            while at + 8 <= size {
                // SAFETY: `src + at .. + 8` lies inside the `T` (at + 8 ≤
                // size), is 8-aligned (the struct is 8-aligned and `at` a
                // multiple of 8) and valid for the borrow of `self`; this
                // location is only ever accessed as an `AtomicU64` (module
                // docs), so there is no mixed-size or non-atomic access.
                let word = unsafe { AtomicU64::from_ptr(src.add(at).cast()) };
                // relaxed: ordered by the seqlock's fences (see `latch`).
                let value = word.load(Ordering::Relaxed);
                // SAFETY: `dst + at .. + 8` lies inside `out`, a local
                // `MaybeUninit<T>`; it may be unaligned for u64, hence
                // `write_unaligned`.
                unsafe { dst.add(at).cast::<u64>().write_unaligned(value) };
                at += 8;
            }
            if at + 4 <= size {
                // SAFETY: as above, for the 4-aligned 4-byte tail chunk that
                // is only ever accessed as an `AtomicU32`.
                let part = unsafe { AtomicU32::from_ptr(src.add(at).cast()) };
                // relaxed: as above.
                let value = part.load(Ordering::Relaxed);
                // SAFETY: inside `out`; unaligned write.
                unsafe { dst.add(at).cast::<u32>().write_unaligned(value) };
                at += 4;
            }
            if at + 2 <= size {
                // SAFETY: as above, for the 2-byte tail chunk (`AtomicU16`).
                let part = unsafe { AtomicU16::from_ptr(src.add(at).cast()) };
                // relaxed: as above.
                let value = part.load(Ordering::Relaxed);
                // SAFETY: inside `out`; unaligned write.
                unsafe { dst.add(at).cast::<u16>().write_unaligned(value) };
                at += 2;
            }
            if at < size {
                // SAFETY: as above, for the last byte (`AtomicU8`).
                let part = unsafe { AtomicU8::from_ptr(src.add(at)) };
                // relaxed: as above.
                let value = part.load(Ordering::Relaxed);
                // SAFETY: inside `out`.
                unsafe { dst.add(at).write(value) };
            }
            // SAFETY: the chunks above cover all `size_of::<T>()` bytes of
            // `out`, and `T: Pod` makes every bit pattern a valid `T`.
            unsafe { out.assume_init() }
        }

        /// Overwrites the copy with `value`, as relaxed atomic words.
        #[inline(always)]
        pub(crate) fn store(&self, value: &T) {
            let src = (value as *const T).cast::<u8>();
            let dst = self.bytes.get().cast::<u8>();
            let size = size_of::<T>();
            let mut at = 0;
            while at + 8 <= size {
                // SAFETY: `src + at .. + 8` lies inside `*value`; `T: Pod`
                // has no padding, so those bytes are initialized; it may be
                // unaligned for u64, hence `read_unaligned`.
                let bits = unsafe { src.add(at).cast::<u64>().read_unaligned() };
                // SAFETY: as in `load`: in bounds, 8-aligned, only ever
                // accessed as an `AtomicU64`.
                let word = unsafe { AtomicU64::from_ptr(dst.add(at).cast()) };
                // relaxed: ordered by the seqlock's fences (see `latch`).
                word.store(bits, Ordering::Relaxed);
                at += 8;
            }
            if at + 4 <= size {
                // SAFETY: inside `*value`, initialized (no padding).
                let bits = unsafe { src.add(at).cast::<u32>().read_unaligned() };
                // SAFETY: as in `load` (the `AtomicU32` tail chunk).
                let part = unsafe { AtomicU32::from_ptr(dst.add(at).cast()) };
                // relaxed: as above.
                part.store(bits, Ordering::Relaxed);
                at += 4;
            }
            if at + 2 <= size {
                // SAFETY: inside `*value`, initialized (no padding).
                let bits = unsafe { src.add(at).cast::<u16>().read_unaligned() };
                // SAFETY: as in `load` (the `AtomicU16` tail chunk).
                let part = unsafe { AtomicU16::from_ptr(dst.add(at).cast()) };
                // relaxed: as above.
                part.store(bits, Ordering::Relaxed);
                at += 2;
            }
            if at < size {
                // SAFETY: inside `*value`, initialized (no padding).
                let bits = unsafe { src.add(at).read() };
                // SAFETY: as in `load` (the `AtomicU8` last byte).
                let part = unsafe { AtomicU8::from_ptr(dst.add(at)) };
                // relaxed: as above.
                part.store(bits, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(loom)]
mod model {
    use super::Pod;
    use crate::sync::{AtomicU64, Ordering};
    use core::marker::PhantomData;
    use core::mem::size_of;

    /// The loom stand-in: `T`'s bytes, zero-padded to whole words, in loom
    /// atomics (which cannot live at an address we choose).
    pub(crate) struct AtomicWords<T> {
        words: Box<[AtomicU64]>,
        _value: PhantomData<T>,
    }

    fn to_words<T: Pod>(value: &T) -> Vec<u64> {
        let mut padded = vec![0u8; size_of::<T>().div_ceil(8) * 8];
        padded[..size_of::<T>()].copy_from_slice(bytemuck::bytes_of(value));
        padded.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap())).collect()
    }

    impl<T: Pod> AtomicWords<T> {
        pub(crate) fn new(value: T) -> Self {
            let words = to_words(&value).into_iter().map(AtomicU64::new).collect();
            Self { words, _value: PhantomData }
        }

        pub(crate) fn load(&self) -> T {
            let bytes: Vec<u8> = self
                .words
                .iter()
                // relaxed: as in the real implementation.
                .flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes())
                .collect();
            bytemuck::pod_read_unaligned(&bytes[..size_of::<T>()])
        }

        pub(crate) fn store(&self, value: &T) {
            for (word, bits) in self.words.iter().zip(to_words(value)) {
                // relaxed: as in the real implementation.
                word.store(bits, Ordering::Relaxed);
            }
        }

        /// Stores only the first `words` words of `value`: a writer that
        /// dies part-way through a copy (loom death models).
        pub(crate) fn store_prefix(&self, value: &T, words: usize) {
            for (word, bits) in self.words.iter().zip(to_words(value)).take(words) {
                // relaxed: as in `store`.
                word.store(bits, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn round_trip<T: Pod + PartialEq + core::fmt::Debug>(a: T, b: T) {
        let copy = AtomicCopy::new(AtomicWords::new(a));
        assert_eq!(copy.load(), a);
        copy.store(&b);
        assert_eq!(copy.load(), b);
    }

    #[test]
    fn every_tail_size_round_trips() {
        round_trip([1u8; 1], [2u8; 1]);
        round_trip([1u8; 3], [0xFEu8; 3]);
        round_trip([1u8; 7], [9u8; 7]);
        round_trip([3u8; 13], [7u8; 13]);
        round_trip([5u8; 15], [6u8; 15]);
        round_trip(0x1122_3344u32, 0xAABB_CCDDu32);
        round_trip([0x1234u16; 3], [0x4321u16; 3]);
        round_trip([1u64, 2, 3], [u64::MAX, 0, 7]);
        round_trip((), ());
    }

    #[test]
    fn distinct_bytes_land_in_place() {
        let mut a = [0u8; 31];
        for (i, b) in a.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut b = a;
        b.reverse();
        round_trip(a, b);
    }

    #[test]
    fn large_values_round_trip() {
        let a = [0xA5A5_A5A5_A5A5_A5A5u64; 32]; // 256 bytes
        let mut b = a;
        b[31] = 1;
        round_trip(a, b);
    }

    #[test]
    fn copy_is_cache_line_aligned_and_padded() {
        assert_eq!(core::mem::align_of::<AtomicCopy<u8>>(), 64);
        assert_eq!(core::mem::size_of::<AtomicCopy<[u8; 65]>>(), 128);
    }

    #[test]
    fn words_are_8_aligned_and_padded_to_whole_words() {
        assert_eq!(core::mem::align_of::<AtomicWords<u8>>(), 8);
        assert_eq!(core::mem::size_of::<AtomicWords<[u8; 13]>>(), 16);
        assert_eq!(core::mem::align_of::<AtomicWords<u128>>(), 16);
    }
}
