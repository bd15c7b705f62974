//! [`AtomicCounter`]: a `u64` counter on its own cache line.

use crate::sync::{AtomicU64, Ordering};
use crate::CachePadded;

/// A 64-bit counter that occupies a whole cache line.
///
/// A [`CachePadded`] `u64`: the value is alone on its 64-byte line, so two
/// counters (or a counter and a neighbouring lock) in one struct never
/// slow each other down through false sharing. It is 64 bytes large and
/// valid when zeroed (a zeroed counter holds 0).
///
/// All arithmetic wraps around at `u64::MAX` (and below 0 for
/// [`sub`](Self::sub)), like [`AtomicU64::fetch_add`](core::sync::atomic::AtomicU64::fetch_add).
///
/// # Memory ordering: what a value tells you
///
/// Every modifying operation (`add`, `incr`, `sub`, `swap`, a successful
/// `compare_exchange`) is an acquire-release read-modify-write, and
/// [`get`](Self::get) is an acquire load. So:
///
/// * **You may infer** that if `get` (or a modifying operation) returns a
///   value that includes some other thread's `add`, then everything that
///   thread wrote to memory *before* that `add` is visible to you now. A
///   counter can therefore announce "n items are ready" to another process.
/// * **You may not infer** anything about operations that happen *after* the
///   value was read: the counter is not a lock, the value may be stale the
///   moment it is returned, and two `get`s on different counters are not a
///   snapshot of both. Nor does a value bound how many other modifications
///   are in flight.
///
/// On x86-64 these orderings cost nothing over relaxed ones (every locked
/// instruction is a full barrier and plain loads are acquire loads); on
/// AArch64 they select the acquire/release forms of the same instructions.
///
/// # Examples
///
/// ```
/// use shmsync::AtomicCounter;
///
/// static REQUESTS: AtomicCounter = AtomicCounter::new(0);
///
/// REQUESTS.incr();
/// REQUESTS.add(10);
/// assert_eq!(REQUESTS.get(), 11);
/// assert_eq!(REQUESTS.sub(1), 11); // returns the previous value
/// assert_eq!(REQUESTS.swap(0), 10);
/// assert_eq!(REQUESTS.compare_exchange(0, 5), Ok(0));
/// assert_eq!(REQUESTS.compare_exchange(0, 7), Err(5));
/// assert_eq!(core::mem::align_of::<AtomicCounter>(), 64);
/// ```
#[repr(C)]
pub struct AtomicCounter {
    value: CachePadded<AtomicU64>,
}

impl AtomicCounter {
    crate::sync::const_unless_loom! {
        /// A counter holding `value`.
        #[must_use]
        pub const fn new(value: u64) -> Self {
            Self { value: CachePadded::new(AtomicU64::new(value)) }
        }
    }

    /// The current value.
    ///
    /// See the type's docs for what a value lets you infer.
    #[inline]
    #[must_use]
    pub fn get(&self) -> u64 {
        // acquire: pairs with the release half of every modifying operation,
        // so the writes made before the increments we count are visible.
        self.value.load(Ordering::Acquire)
    }

    /// Adds `n` (wrapping) and returns the value *before* the addition.
    #[inline]
    pub fn add(&self, n: u64) -> u64 {
        // acq_rel: release pairs with the acquire of `get` and of later
        // modifications; acquire pairs with the release of earlier ones, so
        // the returned previous value is as meaningful as one from `get`.
        self.value.fetch_add(n, Ordering::AcqRel)
    }

    /// Adds one (wrapping) and returns the value *before* the increment.
    #[inline]
    pub fn incr(&self) -> u64 {
        self.add(1)
    }

    /// Subtracts `n` (wrapping below zero) and returns the value *before*
    /// the subtraction.
    #[inline]
    pub fn sub(&self, n: u64) -> u64 {
        // acq_rel: as in `add`.
        self.value.fetch_sub(n, Ordering::AcqRel)
    }

    /// Stores `value` and returns the previous value (e.g. `swap(0)` reads
    /// and resets a counter in one step, losing no concurrent increment).
    #[inline]
    pub fn swap(&self, value: u64) -> u64 {
        // acq_rel: as in `add`.
        self.value.swap(value, Ordering::AcqRel)
    }

    /// Stores `new` if the counter holds `current`.
    ///
    /// # Errors
    ///
    /// Returns `Err(actual)` with the value found if it was not `current`;
    /// nothing is stored then. Unlike `AtomicU64::compare_exchange_weak` it
    /// never fails spuriously.
    #[inline]
    pub fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64> {
        // acq_rel on success: as in `add`. acquire on failure: the value
        // returned in `Err` is as meaningful as one from `get`.
        self.value.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
}

impl Default for AtomicCounter {
    /// A counter holding 0 (the same as a zeroed one).
    fn default() -> Self {
        Self::new(0)
    }
}

impl core::fmt::Debug for AtomicCounter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("AtomicCounter").field(&self.get()).finish()
    }
}

// SAFETY: repr(C) around one `CachePadded<AtomicU64>` (repr(C, align(64))):
// a fixed layout (64 bytes, align 64), no pointers, all-zero bytes are the
// valid value 0, no Drop, and AtomicU64 is Send + Sync.
#[cfg(not(loom))]
unsafe impl crate::ShmSafe for AtomicCounter {
    const TYPE_NAME: &'static str = "AtomicCounter";
    const FINGERPRINT: u64 = crate::fingerprint::tagged(
        crate::fingerprint::SEED,
        "shmsync::AtomicCounter/1",
        &[core::mem::size_of::<Self>() as u64, core::mem::align_of::<Self>() as u64],
    );
    const LAYOUT: crate::layout::Layout =
        crate::layout::Layout::leaf(crate::layout::Kind::AtomicCounter);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<AtomicCounter>(), 64);
        assert_eq!(core::mem::align_of::<AtomicCounter>(), 64);
    }

    #[test]
    fn zeroed_counter_reads_zero() {
        // SAFETY: the ShmSafe contract of AtomicCounter says all-zero bytes
        // are a valid counter; this test checks that it reads as 0.
        let c: AtomicCounter = unsafe { core::mem::zeroed() };
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn arithmetic_wraps() {
        let c = AtomicCounter::new(u64::MAX);
        assert_eq!(c.incr(), u64::MAX);
        assert_eq!(c.get(), 0);
        assert_eq!(c.sub(2), 0);
        assert_eq!(c.get(), u64::MAX - 1);
    }
}
