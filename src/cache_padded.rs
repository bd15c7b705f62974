//! [`CachePadded`]: a value that starts a 64-byte cache line and shares it
//! with nothing else.

use crate::layout::{Field, Kind, Layout};
use crate::shm_safe::{fingerprint, ShmSafe};
use core::ops::{Deref, DerefMut};

/// Pads and aligns a value to a 64-byte cache line, so that writes to it
/// never invalidate the line of a neighbouring value (false sharing).
///
/// `CachePadded<T>` is `#[repr(C, align(64))]` around `T`: the value is at
/// offset 0, the size is the smallest multiple of 64 that holds a `T`, the
/// alignment is 64 (or `T`'s, if larger). Every padded line in shmsync's
/// own primitives is one of these.
///
/// # Why 64, on every target
///
/// `crossbeam_utils::CachePadded` aligns to 128 bytes on x86-64 and
/// aarch64: Intel cores since Sandy Bridge have a spatial prefetcher that
/// fetches 64-byte lines in pairs, and some aarch64 cores (Apple's) have
/// 128-byte lines. On those, two values in adjacent 64-byte lines can still
/// slow each other down, which costs a contended workload some throughput.
///
/// shmsync does not follow, because here the alignment is part of a
/// segment's *layout*, which processes share: it fixes the size and the
/// offsets of every type that holds a padded line, and so their
/// [`ShmSafe::FINGERPRINT`]s and the offsets the segment header's format
/// version promises to inspection. Changing it would make every segment
/// created by an earlier build refuse to open, and making it depend on the
/// target would let a 32-bit and a 64-bit process on the same machine (an
/// `i686` and an `x86_64` build) disagree on the layout of one segment. 64
/// bytes is the line size of x86-64 and of most aarch64 cores, and it keeps
/// a [`ShardedCounter`](crate::ShardedCounter)'s shards at half the memory.
///
/// # In shared memory
///
/// A `CachePadded<T>` is [`ShmSafe`] when `T` is, so it can pad a field of a
/// `#[derive(ShmSafe)]` struct. Its field map shows the padded value as its
/// one field, named `value`: `shmsync inspect` (and
/// [`inspect::inspect`](crate::inspect::inspect)) lists a padded field as a
/// struct row, `sent`, with the value under it, `sent.value`.
///
/// # Examples
///
/// Two counters written by different processes, each on its own line of a
/// segment:
///
/// ```
/// use shmsync::{CachePadded, Segment, ShmSafe};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Stats {
///     sent: CachePadded<AtomicU64>,
///     received: CachePadded<AtomicU64>,
/// }
///
/// // Zeroed memory is two zero counters: no initializer needed.
/// let stats = Segment::<Stats>::create_unique("stats")?;
/// // Another process opens it by name and counts on its own line.
/// let peer = Segment::<Stats>::open(stats.name())?;
/// stats.sent.fetch_add(1, Ordering::Relaxed); // through `Deref`
/// peer.received.fetch_add(2, Ordering::Relaxed);
/// assert_eq!(stats.received.load(Ordering::Relaxed), 2);
/// assert_eq!(core::mem::size_of::<Stats>(), 128);
/// assert_eq!(core::mem::offset_of!(Stats, received), 64);
/// # Ok::<(), shmsync::Error>(())
/// ```
#[repr(C, align(64))]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CachePadded<T> {
    value: T,
}

impl<T> CachePadded<T> {
    /// Pads `value`.
    #[must_use]
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// The padded value.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> From<T> for CachePadded<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CachePadded").field("value", &self.value).finish()
    }
}

// SAFETY: `repr(C, align(64))` around one `T: ShmSafe`: a fixed layout (the
// value at offset 0, then padding up to a multiple of 64 bytes that nothing
// reads), no pointer and no Drop beyond `T`'s (none), valid when zeroed and
// for every bit pattern exactly when `T` is, and `Send + Sync` because `T`
// is.
unsafe impl<T: ShmSafe> ShmSafe for CachePadded<T> {
    const TYPE_NAME: &'static str = "CachePadded";
    const FINGERPRINT: u64 = fingerprint::tagged(
        T::FINGERPRINT,
        "shmsync::CachePadded/64-v1",
        &[core::mem::size_of::<Self>() as u64, core::mem::align_of::<Self>() as u64],
    );
    // A one-field struct, as `#[derive(ShmSafe)]` would describe it: the
    // value keeps its own kind and size, so inspection decodes it as if it
    // were not padded.
    const LAYOUT: Layout = Layout {
        kind: Kind::Struct,
        fields: &[Field {
            name: "value",
            offset: 0,
            size: core::mem::size_of::<T>(),
            type_name: T::TYPE_NAME,
            layout: &T::LAYOUT,
        }],
        len: 1,
    };
}

#[cfg(test)]
mod tests {
    use super::CachePadded;
    use crate::ShmSafe;
    use core::mem::{align_of, size_of};
    use core::sync::atomic::AtomicU64;

    #[test]
    fn pads_to_whole_lines() {
        assert_eq!(size_of::<CachePadded<u8>>(), 64);
        assert_eq!(align_of::<CachePadded<u8>>(), 64);
        assert_eq!(size_of::<CachePadded<[u8; 65]>>(), 128);
        // A zero-sized value stays zero-sized: 0 is a multiple of 64.
        assert_eq!(size_of::<CachePadded<()>>(), 0);
        let pair = [CachePadded::new(1u8), CachePadded::new(2u8)];
        let gap = core::ptr::addr_of!(*pair[1]) as usize - core::ptr::addr_of!(*pair[0]) as usize;
        assert_eq!(gap, 64);
        assert_eq!(pair[1].into_inner(), 2);
    }

    /// The fingerprint is recorded in segments: pinned, like those of the
    /// other shipped types.
    #[test]
    fn fingerprint_is_pinned_and_differs_from_the_bare_value() {
        let padded = <CachePadded<AtomicU64> as ShmSafe>::FINGERPRINT;
        assert_eq!(padded, 0x3d6e_477f_ebce_3528);
        assert_ne!(padded, <AtomicU64 as ShmSafe>::FINGERPRINT);
        assert_ne!(padded, <CachePadded<u64> as ShmSafe>::FINGERPRINT);
    }

    #[test]
    fn field_map_shows_the_value() {
        let layout = &<CachePadded<AtomicU64> as ShmSafe>::LAYOUT;
        assert_eq!(layout.kind, crate::layout::Kind::Struct);
        let [field] = layout.fields else { panic!("one field") };
        assert_eq!((field.name, field.offset, field.size), ("value", 0, 8));
        assert_eq!(field.type_name, "AtomicU64");
        assert_eq!(field.layout.kind, crate::layout::Kind::Atomic);
    }
}
