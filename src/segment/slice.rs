//! Runtime-length array segments: `Segment<[E]>`.
//!
//! The length is chosen by the creator, stored in the header and validated
//! by every opener against the object's size.
//!
//! # Mutating elements from several processes
//!
//! A `Segment<[E]>` dereferences to `&[E]`, like every segment hands out
//! only shared references. Two ways to mutate:
//!
//! * **Atomic elements** (`[AtomicU64]`, `[AtomicU32]`, …): safe, any
//!   process may update any element at any time.
//! * **Plain elements** (`[f64]`, `[u8]`, …) through the `unsafe`
//!   [`Segment::range_mut`]: each process takes `&mut` to a range it alone
//!   touches (a row block of a matrix, say) and the processes order their
//!   phases with a primitive in another segment (a `ShmMutex`, an atomic
//!   counter used as a barrier, or simply process exit and `wait`). This is
//!   the shared-NumPy-array pattern at full memory speed; making every
//!   element an atomic would hide that pattern's real rule (disjoint writes,
//!   then a synchronization point) behind per-element atomic operations.
//!   The rule cannot be checked across processes, so the accessor is
//!   `unsafe` and states it.

use core::ops::Range;

use crate::{Result, ShmSafe};

use super::options::SegmentOptions;
use super::Segment;

/// Adapts `FnOnce(&mut [E])` to the protocol's payload callback.
fn slice_init<E: ShmSafe>(init: impl FnOnce(&mut [E])) -> impl FnMut(*mut u8, usize) {
    let mut init = Some(init);
    move |payload, len| {
        if let Some(f) = init.take() {
            // SAFETY: the protocol calls this once, with the payload of
            // `len` elements of a segment whose exclusive lock it holds and
            // that nobody else can open yet: valid, aligned for `E`,
            // unaliased, all zero bytes (valid `E`s).
            f(unsafe { core::slice::from_raw_parts_mut(payload.cast::<E>(), len) });
        }
    }
}

fn no_init(_: *mut u8, _: usize) {}

impl<E: ShmSafe> Segment<[E]> {
    /// Creates the segment `name` holding `len` all-zero elements, and owns
    /// it.
    ///
    /// # Errors
    ///
    /// As [`Segment::create`]; also
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if `len` elements
    /// do not fit the address space.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::Segment;
    ///
    /// # let name = format!("doc-slice-{}", std::process::id());
    /// let m = Segment::<[f64]>::create_slice_with(&name, 4, |v| v.fill(1.5))?;
    /// let view = Segment::<[f64]>::open_slice(&name)?;
    /// assert_eq!(&view[..], &[1.5; 4]);
    /// # drop(m);
    /// # Ok::<(), shmsync::Error>(())
    /// ```
    pub fn create_slice(name: &str, len: usize) -> Result<Segment<[E]>> {
        Self::options().create_slice(name, len)
    }

    /// Creates the segment `name` with `len` elements and runs `init` on
    /// them before any other process can open it; then owns it.
    ///
    /// # Errors
    ///
    /// As [`create_slice`](Segment::create_slice).
    pub fn create_slice_with(
        name: &str,
        len: usize,
        init: impl FnOnce(&mut [E]),
    ) -> Result<Segment<[E]>> {
        Self::options().create_slice_with(name, len, init)
    }

    /// Creates a slice segment of `len` elements under a fresh, unused name
    /// (see [`Segment::create_unique`]), and owns it.
    ///
    /// # Errors
    ///
    /// As [`Segment::create_unique`] and [`create_slice`](Segment::create_slice).
    pub fn create_slice_unique(prefix: &str, len: usize) -> Result<Segment<[E]>> {
        Self::options().create_slice_unique(prefix, len)
    }

    /// Opens the existing slice segment `name`, whatever its length.
    ///
    /// # Errors
    ///
    /// As [`Segment::open`].
    pub fn open_slice(name: &str) -> Result<Segment<[E]>> {
        Self::options().open_slice(name)
    }

    /// Opens the slice segment `name`, creating it with `len` zero elements
    /// if it does not exist (race-free, one creator).
    ///
    /// # Errors
    ///
    /// As [`Segment::open_or_create`];
    /// [`LengthMismatch`](crate::Error::LengthMismatch) if it exists with
    /// another length; [`InvalidArgument`](crate::Error::InvalidArgument) if
    /// `len` elements do not fit the address space (checked before any
    /// segment is opened or made).
    pub fn open_or_create_slice(name: &str, len: usize) -> Result<Segment<[E]>> {
        Self::options().open_or_create_slice(name, len)
    }

    /// As [`open_or_create_slice`](Segment::open_or_create_slice), running
    /// `init` only in the process that creates the segment.
    ///
    /// # Errors
    ///
    /// As [`open_or_create_slice`](Segment::open_or_create_slice).
    pub fn open_or_create_slice_with(
        name: &str,
        len: usize,
        init: impl FnOnce(&mut [E]),
    ) -> Result<Segment<[E]>> {
        Self::options().open_or_create_slice_with(name, len, init)
    }

    /// A raw pointer to the first element, valid as long as `self`.
    pub fn as_mut_ptr(&self) -> *mut E {
        self.payload.as_ptr().cast::<E>()
    }

    /// A mutable view of the elements in `range`, for writing plain
    /// (non-atomic) elements in place.
    ///
    /// # Panics
    ///
    /// If `range` is decreasing or extends past the end.
    ///
    /// # Safety
    ///
    /// While the returned slice is alive, no other code — in this process or
    /// any other that maps the segment — may read or write the elements in
    /// `range` (through `Deref`, another `range_mut`, or otherwise), and
    /// accesses to them before and after must be ordered with this one by
    /// synchronization (a lock, an acquire/release flag or barrier in shared
    /// memory, or the other process having exited and been waited for).
    /// In other words: each range has one writer at a time, and nobody
    /// reads a range while it is being written.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::Segment;
    ///
    /// # let name = format!("doc-range-mut-{}", std::process::id());
    /// let v = Segment::<[u32]>::create_slice(&name, 8)?;
    /// // SAFETY: nothing else touches elements 2..4 meanwhile.
    /// unsafe { v.range_mut(2..4) }.fill(7);
    /// assert_eq!(v[..4], [0, 0, 7, 7]);
    /// # Ok::<(), shmsync::Error>(())
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range_mut(&self, range: Range<usize>) -> &mut [E] {
        let len = self.payload.len();
        assert!(
            range.start <= range.end && range.end <= len,
            "range {range:?} out of bounds for a segment of {len} elements"
        );
        // SAFETY: the range lies inside the validated, mapped payload (just
        // checked); the caller guarantees exclusive access to it for the
        // returned lifetime, which `&self` keeps within the mapping's life.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.as_mut_ptr().add(range.start),
                range.end - range.start,
            )
        }
    }
}

impl<E: ShmSafe> SegmentOptions<[E]> {
    /// [`Segment::create_slice`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::create_slice`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn create_slice(&self, name: &str, len: usize) -> Result<Segment<[E]>> {
        self.create_raw(name, len, &mut no_init)
    }

    /// [`Segment::create_slice_with`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::create_slice`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn create_slice_with(
        &self,
        name: &str,
        len: usize,
        init: impl FnOnce(&mut [E]),
    ) -> Result<Segment<[E]>> {
        self.create_raw(name, len, &mut slice_init(init))
    }

    /// [`Segment::create_slice_unique`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::create_slice_unique`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn create_slice_unique(&self, prefix: &str, len: usize) -> Result<Segment<[E]>> {
        self.create_unique_raw(prefix, len, &mut no_init)
    }

    /// [`Segment::open_slice`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::open_slice`].
    pub fn open_slice(&self, name: &str) -> Result<Segment<[E]>> {
        self.open_raw(name)
    }

    /// [`Segment::open_or_create_slice`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::open_or_create_slice`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn open_or_create_slice(&self, name: &str, len: usize) -> Result<Segment<[E]>> {
        self.open_or_create_raw(name, len, &mut no_init)
    }

    /// [`Segment::open_or_create_slice_with`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::open_or_create_slice`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn open_or_create_slice_with(
        &self,
        name: &str,
        len: usize,
        init: impl FnOnce(&mut [E]),
    ) -> Result<Segment<[E]>> {
        self.open_or_create_raw(name, len, &mut slice_init(init))
    }
}
