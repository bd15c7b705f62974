//! [`ShardedCounter`]: one logical counter spread over cache-line shards.

use crate::sync::{cpu_hint, AtomicU64, Ordering};
use crate::CachePadded;

/// The number of shards of a [`ShardedCounter`] when none is named: 32
/// cache lines (2 KiB). Threads on CPUs `i` and `i + 32` share a shard, so
/// machines with more CPUs than that, all writing one counter, may want
/// `ShardedCounter<64>` or more.
pub const DEFAULT_SHARDS: usize = 32;

/// One shard: a `u64` alone on its cache line.
type Shard = CachePadded<AtomicU64>;

/// Only ever used as an array-repeat initializer in `new`, which makes a
/// fresh shard per element (the `const` is what lets `new` be `const`).
#[cfg(not(loom))]
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_SHARD: Shard = CachePadded::new(AtomicU64::new(0));

/// A counter for many concurrent writers: `N` cache-line shards, one of
/// which each increment lands on, chosen by the CPU the writer runs on.
///
/// Writers running at the same time run on different CPUs, so (up to `N`
/// CPUs) their increments touch different cache lines and never bounce a
/// line between cores: `incr` costs the same whether one process or many
/// are counting. Reading the total, [`sum`](Self::sum), adds up all `N`
/// shards and is correspondingly slower; use [`AtomicCounter`] when reads
/// are as frequent as writes.
///
/// `N` is fixed at compile time (default [`DEFAULT_SHARDS`]); the type is
/// `N × 64` bytes, `#[repr(C)]` and valid when zeroed (a zeroed counter
/// sums to 0). Any `N ≥ 1` works; every process must use the same `N` (it is
/// part of the layout fingerprint).
///
/// # What `sum` means
///
/// * Once writers are **quiescent** (every `add` has returned and no new one
///   starts, e.g. after joining the writer processes), `sum` is **exact**:
///   the wrapping sum of every `add`, minus every `sub`.
/// * **While writers run**, `sum` reads the shards one after another, so it
///   is not a snapshot of one instant. With only `add`/`incr` it lies between
///   the true total at the start of the call and the true total at its end;
///   with `sub` as well it may be a value the total never held.
/// * Each shard is updated with a release RMW and read with an acquire load:
///   if `sum` counts an increment, the writes its writer made before the
///   increment are visible to the caller.
///
/// [`AtomicCounter`]: crate::AtomicCounter
///
/// # Examples
///
/// ```
/// use shmsync::ShardedCounter;
///
/// static EVENTS: ShardedCounter = ShardedCounter::new();
///
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for _ in 0..1000 {
///                 EVENTS.incr();
///             }
///         });
///     }
/// });
/// // All writers joined: the sum is exact.
/// assert_eq!(EVENTS.sum(), 4000);
///
/// let small: ShardedCounter<4> = ShardedCounter::new();
/// small.add(5);
/// small.sub(2);
/// assert_eq!(small.sum(), 3);
/// assert_eq!(core::mem::size_of::<ShardedCounter<4>>(), 4 * 64);
/// ```
#[repr(C)]
pub struct ShardedCounter<const N: usize = DEFAULT_SHARDS> {
    shards: [Shard; N],
}

impl<const N: usize> ShardedCounter<N> {
    /// The number of shards.
    pub const SHARDS: usize = {
        assert!(N > 0, "a ShardedCounter needs at least one shard");
        N
    };

    crate::sync::const_unless_loom! {
        /// A counter whose sum is 0.
        #[must_use]
        pub const fn new() -> Self {
            let _ = Self::SHARDS; // compile-time check that N > 0
            Self { shards: [ZERO_SHARD; N] }
        } loom {
            let _ = Self::SHARDS;
            Self { shards: core::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))) }
        }
    }

    /// The shard the calling thread writes to now.
    #[inline]
    fn my_shard(&self) -> &Shard {
        // `SHARDS` is N, checked non-zero at compile time, so `%` cannot
        // divide by zero and the index is in bounds.
        &self.shards[cpu_hint() % Self::SHARDS]
    }

    /// Adds `n` (wrapping).
    #[inline]
    pub fn add(&self, n: u64) {
        // release: pairs with the acquire loads in `sum`; an acquire load
        // that reads this shard at or after this RMW sees our earlier writes
        // (later RMWs on the shard continue the release sequence).
        self.my_shard().fetch_add(n, Ordering::Release);
    }

    /// Adds one (wrapping).
    #[inline]
    pub fn incr(&self) {
        self.add(1);
    }

    /// Subtracts `n`. A shard may wrap below zero on its own (another shard
    /// holds the matching additions); the [`sum`](Self::sum) is still exact
    /// modulo 2⁶⁴.
    #[inline]
    pub fn sub(&self, n: u64) {
        // release: as in `add`.
        self.my_shard().fetch_sub(n, Ordering::Release);
    }

    /// The wrapping sum of all shards. Exact once writers are quiescent; see
    /// the type's docs for what it means while they are not.
    #[must_use]
    pub fn sum(&self) -> u64 {
        self.shards.iter().fold(0u64, |total, shard| {
            // acquire: pairs with the release RMWs in `add`/`sub`.
            total.wrapping_add(shard.load(Ordering::Acquire))
        })
    }
}

impl<const N: usize> Default for ShardedCounter<N> {
    /// A counter whose sum is 0 (the same as a zeroed one).
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for ShardedCounter<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShardedCounter").field("shards", &N).field("sum", &self.sum()).finish()
    }
}

// SAFETY: repr(C) array of shards, each a `CachePadded<AtomicU64>`
// (repr(C, align(64))): a fixed layout (N × 64 bytes, align 64), no
// pointers, all-zero bytes are the valid sum 0, no Drop, and AtomicU64 is
// Send + Sync.
#[cfg(not(loom))]
unsafe impl<const N: usize> crate::ShmSafe for ShardedCounter<N> {
    const TYPE_NAME: &'static str = "ShardedCounter";
    const FINGERPRINT: u64 = crate::fingerprint::tagged(
        crate::fingerprint::SEED,
        "shmsync::ShardedCounter/1",
        &[core::mem::size_of::<Self>() as u64, core::mem::align_of::<Self>() as u64, N as u64],
    );
    const LAYOUT: crate::layout::Layout =
        crate::layout::Layout::leaf(crate::layout::Kind::ShardedCounter);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ShmSafe;

    #[test]
    fn layout_is_n_cache_lines() {
        assert_eq!(core::mem::size_of::<ShardedCounter<3>>(), 3 * 64);
        assert_eq!(core::mem::align_of::<ShardedCounter<3>>(), 64);
        assert_eq!(ShardedCounter::<DEFAULT_SHARDS>::SHARDS, DEFAULT_SHARDS);
    }

    #[test]
    fn fingerprint_depends_on_shard_count() {
        assert_ne!(
            <ShardedCounter<4> as ShmSafe>::FINGERPRINT,
            <ShardedCounter<8> as ShmSafe>::FINGERPRINT
        );
    }

    #[test]
    fn zeroed_counter_sums_to_zero() {
        // SAFETY: the ShmSafe contract says all-zero bytes are a valid
        // counter; this test checks that it sums to 0.
        let c: ShardedCounter<5> = unsafe { core::mem::zeroed() };
        assert_eq!(c.sum(), 0);
    }

    #[test]
    fn sum_is_exact_modulo_2_pow_64_with_wrapping_shards() {
        let c: ShardedCounter<2> = ShardedCounter::new();
        // Force the two shards apart: one wraps below zero, the other holds
        // the additions.
        c.shards[0].store(3, Ordering::Relaxed);
        c.shards[1].store(0u64.wrapping_sub(1), Ordering::Relaxed);
        assert_eq!(c.sum(), 2);
    }

    #[test]
    fn writers_on_other_threads_spread_over_shards_and_sum_exactly() {
        // Miri interprets every step: fewer rounds, still interleaved
        // (and more than `CPU_HINT_REFRESH`, so hints are refreshed).
        const EACH: u64 = if cfg!(miri) { 300 } else { 10_000 };
        let c: ShardedCounter<4> = ShardedCounter::new();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..EACH {
                        c.incr();
                    }
                });
            }
        });
        assert_eq!(c.sum(), 3 * EACH);
    }
}
