//! Named shared memory segments: [`Segment<T>`], its options, its header
//! format and its create/open protocol.
//!
//! * `header.rs` — the binary header, its state table, validation
//! * `name.rs` — name validation
//! * `payload.rs` — what a segment can hold (`T` or `[E]`)
//! * `attach.rs` — the create / open / open-or-create protocol
//! * `options.rs` — the [`SegmentOptions`] builder
//! * `slice.rs` — runtime-length array segments (`Segment<[E]>`)

pub(crate) mod attach;
mod errors;
pub(crate) mod field_map;
pub(crate) mod header;
pub(crate) mod name;
mod options;
mod payload;
mod slice;

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::{Result, ShmSafe};

pub use options::SegmentOptions;
pub use payload::SegmentPayload;

use attach::Attached;
use name::SegmentName;

/// A named POSIX shared memory segment holding one `T` (or, as
/// `Segment<[E]>`, a runtime-length slice of `E`), mapped into this
/// process.
///
/// Every process that opens the same name with the same `T` sees the same
/// memory. The segment starts with a header that records the format version,
/// the layout fingerprint and name of `T`, and who created it; [`open`]
/// validates all of it, so opening a segment with the wrong type, a
/// truncated segment or somebody else's shared memory object is an
/// [`Error`](crate::Error), never undefined behavior.
///
/// After the segment is published it hands out only `&T`: mutation goes
/// through the interior mutability of the primitives inside `T`
/// ([`ShmMutex`](crate::ShmMutex), atomics, …). Plain fields can be set
/// once, by the creator, in a `*_with` initializer, which gets `&mut T`
/// because nobody else can see the segment until it returns.
///
/// Dereferencing is a pointer cast: all checks happen once, when the segment
/// is created or opened.
///
/// # Ownership of the name
///
/// A handle from [`create`] (or the creating side of [`open_or_create`]) is
/// the *owner*: dropping it unlinks the name (unless
/// [`SegmentOptions::unlink_on_drop`] says otherwise), after checking that
/// the name still refers to the same object. Processes that still have the
/// segment mapped keep using it; later `open`s get [`NotFound`]. A handle
/// from [`open`] never unlinks. Use [`unlink`](crate::unlink) to remove a
/// stale name and [`is_attached`](crate::is_attached) to ask whether anyone
/// still uses it, or [`inspect::remove_stale`](crate::inspect::remove_stale)
/// to remove every segment nobody has open.
///
/// Ownership belongs to the creating *process*: a child that `fork`s with an
/// owner's handle (and drops its copy, or returns from the scope) is not an
/// owner and leaves the name alone, since its parent still uses it.
///
/// A segment created with
/// [`SegmentOptions::unlink_when_unused`] follows another rule: whichever
/// handle closes last, in any process (one from `open`, or a forked
/// child's copy, included), removes the name. A process that ends without
/// dropping its handle (`std::process::exit`, `_exit`, a kill) leaves it to
/// the others, or, if it was the last, to `remove_stale`.
///
/// # `fork`
///
/// A forked child keeps every segment mapped and can use it (its locks get a
/// process identity of its own before its first lock). A guard it inherited
/// is not its own: dropping it panics (see
/// [`ShmMutexGuard`](crate::ShmMutexGuard)). The child keeps its parent's
/// locks held while it lives, since it maps the parent's guards; `exec`
/// releases them.
///
/// # Reserved space
///
/// Creating a segment reserves all of its pages in `/dev/shm` at once
/// (`fallocate`), so a full `/dev/shm` is [`NoSpace`](crate::Error::NoSpace)
/// at creation, never a SIGBUS at the first write. Reserving a large segment
/// takes time (the kernel zeroes its pages; see BENCHMARKS.md) and the pages
/// count against the creating process's memory cgroup at once: in a
/// container whose memory limit is below the size of its `/dev/shm`, a
/// segment larger than the memory left can get the process OOM-killed
/// rather than refused.
///
/// # Creation protocol and crashes
///
/// The creator holds an exclusive open-file-description lock on the object
/// while it initializes it, and every handle holds a shared one for its
/// lifetime; the kernel drops these when a process dies. So an opener can
/// tell a creator that is still working (it waits, up to
/// [`SegmentOptions::open_timeout`], then [`InitTimeout`]) from one that
/// died (at once [`CreatorDied`]); [`open_or_create`] re-initializes the
/// latter in place, as it does for an empty object whose creator died right
/// after creating the name.
///
/// # Limits
///
/// * A program that truncates the object behind shmsync's back makes
///   accesses past the new end fault (SIGBUS); no mapping-based shared
///   memory can prevent that. Objects are only ever sized by their
///   initializer, under the exclusive lock.
/// * A creator killed in the few instructions between sizing the object and
///   writing its header leaves zeros, which [`open`] reports as
///   [`NotASegment`](crate::Error::NotASegment); remove it with
///   [`unlink`](crate::unlink).
/// * Values are only as meaningful as what other processes write: `T:
///   ShmSafe` is valid for every bit pattern (which is why `bool` is not
///   `ShmSafe`), so a buggy peer can store nonsense but never undefined
///   behavior (see [`ShmSafe`]).
///
/// [`open`]: Segment::open
/// [`InitTimeout`]: crate::Error::InitTimeout
/// [`CreatorDied`]: crate::Error::CreatorDied
/// [`create`]: Segment::create
/// [`open_or_create`]: Segment::open_or_create
/// [`NotFound`]: crate::Error::NotFound
///
/// # Examples
///
/// ```
/// use shmsync::{Segment, ShmSafe};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Stats {
///     hits: AtomicU64,
///     limit: u64,
/// }
///
/// # let name = format!("doc-segment-{}", std::process::id());
/// let owner = Segment::<Stats>::create_with(&name, |s| s.limit = 10)?;
/// let other: Segment<Stats> = Segment::open(&name)?; // e.g. in another process
/// other.hits.fetch_add(1, Ordering::Relaxed);
/// assert_eq!(owner.hits.load(Ordering::Relaxed), 1);
/// assert_eq!(other.limit, 10);
/// # Ok::<(), shmsync::Error>(())
/// ```
pub struct Segment<T: ?Sized + SegmentPayload> {
    /// The payload inside `inner.map`.
    payload: NonNull<T>,
    /// Dropped by hand in `Drop`, before the "last one out" check.
    inner: ManuallyDrop<Attached>,
    name: SegmentName,
    unlink_on_drop: bool,
    _owns: PhantomData<T>,
}

// SAFETY: a `Segment` hands out only `&T` (and, for slices, `unsafe`
// accessors whose callers take over the aliasing rules). `T: Sync` (required
// by `ShmSafe`) makes sharing `&T` across threads sound; the mapping and
// descriptor are process-wide resources usable from any thread.
unsafe impl<T: ?Sized + SegmentPayload> Send for Segment<T> {}
// SAFETY: as above: `&Segment<T>` only yields `&T`, and `T: Sync`.
unsafe impl<T: ?Sized + SegmentPayload> Sync for Segment<T> {}

impl<T: ?Sized + SegmentPayload> Segment<T> {
    /// A builder for segments with a non-default mode, open timeout,
    /// or unlink-on-drop behavior.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::Segment;
    /// use std::sync::atomic::AtomicU32;
    /// use std::time::Duration;
    ///
    /// # let name = format!("doc-options-{}", std::process::id());
    /// let seg = Segment::<AtomicU32>::options()
    ///     .mode(0o660)
    ///     .open_timeout(Duration::from_secs(1))
    ///     .create(&name)?;
    /// assert!(seg.is_owner());
    /// # Ok::<(), shmsync::Error>(())
    /// ```
    pub fn options() -> SegmentOptions<T> {
        SegmentOptions::new()
    }

    /// The name this segment was created or opened with.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Whether this handle initialized the segment (by `create`, or as the
    /// one creator of `open_or_create`, or by taking over a segment whose
    /// creator died while initializing), in the process that did so (not in
    /// a child it forked). An owner unlinks the name on drop unless told
    /// otherwise.
    pub fn is_owner(&self) -> bool {
        self.inner.owner && self.inner.pid == crate::sys::process::getpid()
    }

    /// Wraps a validated attachment, registering the mapping.
    fn from_attached(inner: Attached, name: SegmentName, unlink_on_drop: bool) -> Segment<T> {
        let base = inner.map.as_mut_ptr();
        // SAFETY: `payload_offset` lies inside the mapping (validated or
        // computed against its length).
        let payload_base = unsafe { base.add(inner.geometry.payload_offset) };
        let raw = T::payload_ptr(payload_base, inner.geometry.element_count);
        // A mapping is never at address 0, so the payload pointer is non-null.
        let payload = NonNull::new(raw).expect("a mapped payload is never null");
        Segment {
            payload,
            inner: ManuallyDrop::new(inner),
            name,
            unlink_on_drop,
            _owns: PhantomData,
        }
    }
}

impl<T: ShmSafe> Segment<T> {
    /// Creates the segment `name`, holding an all-zero `T`, and owns it.
    ///
    /// The mode is `0o600`; see [`options`](Segment::options) for others.
    ///
    /// # Errors
    ///
    /// [`InvalidName`](crate::Error::InvalidName),
    /// [`AlreadyExists`](crate::Error::AlreadyExists) if the name is taken,
    /// [`PermissionDenied`](crate::Error::PermissionDenied), or
    /// [`NoSpace`](crate::Error::NoSpace) if `/dev/shm` cannot hold it (its
    /// pages are reserved now, so a full `/dev/shm` never becomes a SIGBUS
    /// later), or [`Io`](crate::Error::Io).
    pub fn create(name: &str) -> Result<Segment<T>> {
        Self::options().create(name)
    }

    /// Creates the segment `name` and runs `init` on its (all-zero) value
    /// before any other process can open it; then owns it.
    ///
    /// If `init` panics, the name is removed and the panic propagates.
    ///
    /// # Errors
    ///
    /// As [`create`](Segment::create).
    pub fn create_with(name: &str, init: impl FnOnce(&mut T)) -> Result<Segment<T>> {
        Self::options().create_with(name, init)
    }

    /// Creates a segment under a fresh, unused name made of `prefix`, an
    /// underscore and eight random hex digits (like Python's `psm_…`
    /// names), and owns it. Read the name with [`name`](Segment::name) and
    /// pass it to the processes that should open it.
    ///
    /// # Errors
    ///
    /// [`InvalidName`](crate::Error::InvalidName) if `prefix` is not a valid
    /// name start (it must leave room for 9 more bytes), and as
    /// [`create`](Segment::create); `AlreadyExists` only if 16 random names
    /// in a row were taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{AtomicCounter, Segment};
    ///
    /// let seg = Segment::<AtomicCounter>::create_unique("counters")?;
    /// assert!(seg.name().starts_with("counters_"));
    /// let other = Segment::<AtomicCounter>::open(seg.name())?;
    /// other.incr();
    /// assert_eq!(seg.get(), 1);
    /// # Ok::<(), shmsync::Error>(())
    /// ```
    pub fn create_unique(prefix: &str) -> Result<Segment<T>> {
        Self::options().create_unique(prefix)
    }

    /// Opens the existing segment `name`, which must hold a `T`.
    ///
    /// Waits (up to the open timeout, 5 s by default) while its creator is
    /// still initializing it.
    ///
    /// # Errors
    ///
    /// [`NotFound`](crate::Error::NotFound),
    /// [`PermissionDenied`](crate::Error::PermissionDenied),
    /// [`NotASegment`](crate::Error::NotASegment),
    /// [`VersionMismatch`](crate::Error::VersionMismatch),
    /// [`LayoutMismatch`](crate::Error::LayoutMismatch) (it holds another
    /// type), [`SizeMismatch`](crate::Error::SizeMismatch) (truncated),
    /// [`CreatorDied`](crate::Error::CreatorDied),
    /// [`InitTimeout`](crate::Error::InitTimeout),
    /// [`InvalidName`](crate::Error::InvalidName), [`Io`](crate::Error::Io).
    pub fn open(name: &str) -> Result<Segment<T>> {
        Self::options().open(name)
    }

    /// Opens the segment `name`, creating it (all zeros) if it does not
    /// exist. Race-free: among any number of processes calling this at once,
    /// exactly one creates; the others open. If a creator died while
    /// initializing, one caller takes the segment over and initializes it.
    ///
    /// # Errors
    ///
    /// As [`open`](Segment::open) and [`create`](Segment::create), except
    /// `NotFound`, `AlreadyExists` and `CreatorDied`.
    pub fn open_or_create(name: &str) -> Result<Segment<T>> {
        Self::options().open_or_create(name)
    }

    /// As [`open_or_create`](Segment::open_or_create), running `init` only
    /// in the process that creates (or takes over) the segment, before any
    /// other process can open it.
    ///
    /// # Errors
    ///
    /// As [`open_or_create`](Segment::open_or_create).
    pub fn open_or_create_with(name: &str, init: impl FnOnce(&mut T)) -> Result<Segment<T>> {
        Self::options().open_or_create_with(name, init)
    }
}

impl<T: ?Sized + SegmentPayload> Deref for Segment<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `payload` points into `inner.map`, which stays mapped as
        // long as `self`; the header was validated (type fingerprint,
        // alignment, size within the mapping) when the segment was created
        // or opened, and `T: ShmSafe` is valid for the all-zero bytes it
        // started from and holds only interior-mutable or init-once state.
        unsafe { self.payload.as_ref() }
    }
}

impl<T: ?Sized + SegmentPayload> fmt::Debug for Segment<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name.as_str())
            .field("type", &T::SHAPE.type_name)
            .field("len", &self.inner.geometry.element_count)
            .field("owner", &self.inner.owner)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized + SegmentPayload> Drop for Segment<T> {
    fn drop(&mut self) {
        let stat = self.inner.stat;
        let last_one_out = self.inner.unlink_when_unused;
        // `is_owner`: only the creating process unlinks, never a forked
        // child dropping its copy of the handle (the parent still uses the
        // name, and a later `open_or_create` would silently split them).
        if !last_one_out && self.is_owner() && self.unlink_on_drop {
            attach::unlink_if_same(&self.name, &stat);
        }
        // Unlisted from the liveness registry (closing its token
        // descriptor), unmapped, then its descriptor closed (releasing this
        // handle's shared OFD lock).
        // SAFETY: `inner` is dropped exactly once, here, and not used after
        // (`payload` points into its mapping and is not touched again).
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        if last_one_out {
            // Our lock is gone: if nobody else holds one, the name goes.
            attach::unlink_if_unused(&self.name, &stat);
        }
    }
}

/// Removes the segment name `name`. Processes that have it mapped keep
/// their mapping; the memory is freed when the last one unmaps it. Use it
/// to clean up a segment whose owner died.
///
/// # Errors
///
/// [`InvalidName`](crate::Error::InvalidName),
/// [`NotFound`](crate::Error::NotFound),
/// [`PermissionDenied`](crate::Error::PermissionDenied),
/// [`Io`](crate::Error::Io).
///
/// # Examples
///
/// ```
/// use shmsync::Segment;
/// use std::sync::atomic::AtomicU64;
///
/// # let name = format!("doc-unlink-{}", std::process::id());
/// let seg = Segment::<AtomicU64>::options().unlink_on_drop(false).create(&name)?;
/// drop(seg);
/// shmsync::unlink(&name)?;
/// assert!(matches!(Segment::<AtomicU64>::open(&name), Err(shmsync::Error::NotFound { .. })));
/// # Ok::<(), shmsync::Error>(())
/// ```
pub fn unlink(name: &str) -> Result<()> {
    attach::unlink(&SegmentName::new(name)?)
}

/// Whether any handle — in any process, **including this one** — currently
/// has the segment `name` open (or is initializing it).
///
/// Every [`Segment`] handle holds a shared open-file-description lock on the
/// object for as long as it lives, and the kernel releases it when the
/// process exits or is killed; this asks the kernel whether any such lock
/// is held (`F_OFD_GETLK`). A `false` answer means no live process is
/// attached, so [`unlink`] cannot pull the segment from under anyone who
/// uses it — though a new process may attach right after this returns.
///
/// A `true` answer can outlive a dropped handle by a moment: a thread of
/// the same process that is starting a child (`fork` before `exec`) holds a
/// copy of every descriptor, and with it the lock, until the `exec` closes
/// them (the descriptors are close-on-exec). "Attached" errs on the safe
/// side; poll with a deadline if you wait for it to become `false`.
///
/// # Errors
///
/// [`InvalidName`](crate::Error::InvalidName),
/// [`NotFound`](crate::Error::NotFound),
/// [`PermissionDenied`](crate::Error::PermissionDenied),
/// [`Io`](crate::Error::Io).
///
/// # Examples
///
/// ```
/// use shmsync::Segment;
/// use std::sync::atomic::AtomicU64;
///
/// # let name = format!("doc-attached-{}", std::process::id());
/// let seg = Segment::<AtomicU64>::options().unlink_on_drop(false).create(&name)?;
/// assert!(shmsync::is_attached(&name)?);
/// drop(seg);
/// assert!(!shmsync::is_attached(&name)?);
/// shmsync::unlink(&name)?;
/// # Ok::<(), shmsync::Error>(())
/// ```
pub fn is_attached(name: &str) -> Result<bool> {
    attach::is_attached(&SegmentName::new(name)?)
}

/// Test support: whether a lock word at `addr` lies in a segment this
/// process maps, so that its owners' deaths can be proven.
#[doc(hidden)]
pub fn __owner_death_detection_enabled(addr: *const u8) -> bool {
    crate::sys::liveness::in_a_segment(addr as usize)
}
