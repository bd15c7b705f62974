//! [`SegmentOptions`]: the builder behind every way to make a [`Segment`].

use core::marker::PhantomData;
use std::time::Duration;

use crate::{Result, ShmSafe};

use super::attach::{self, Config, DEFAULT_OPEN_TIMEOUT};
use super::name::SegmentName;
use super::{Segment, SegmentPayload};

/// Options for creating or opening a [`Segment`]; start from
/// [`Segment::options`].
///
/// | option | default |
/// |---|---|
/// | [`mode`](SegmentOptions::mode) | `0o600` |
/// | [`open_timeout`](SegmentOptions::open_timeout) | 5 s |
/// | [`unlink_on_drop`](SegmentOptions::unlink_on_drop) | `true` |
/// | [`unlink_when_unused`](SegmentOptions::unlink_when_unused) | `false` |
///
/// # Examples
///
/// ```
/// use shmsync::Segment;
/// use std::sync::atomic::AtomicU64;
///
/// # let name = format!("doc-seg-options-{}", std::process::id());
/// let seg = Segment::<[AtomicU64]>::options().mode(0o640).create_slice(&name, 16)?;
/// assert_eq!(seg.len(), 16);
/// # Ok::<(), shmsync::Error>(())
/// ```
#[must_use]
pub struct SegmentOptions<T: ?Sized + SegmentPayload> {
    cfg: Config,
    _payload: PhantomData<fn() -> *const T>,
}

impl<T: ?Sized + SegmentPayload> Clone for SegmentOptions<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ?Sized + SegmentPayload> Copy for SegmentOptions<T> {}

impl<T: ?Sized + SegmentPayload> core::fmt::Debug for SegmentOptions<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SegmentOptions")
            .field("mode", &format_args!("{:#o}", self.cfg.mode))
            .field("open_timeout", &self.cfg.open_timeout)
            .field("unlink_on_drop", &self.cfg.unlink_on_drop)
            .field("unlink_when_unused", &self.cfg.unlink_when_unused)
            .finish()
    }
}

impl<T: ?Sized + SegmentPayload> Default for SegmentOptions<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized + SegmentPayload> SegmentOptions<T> {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        SegmentOptions {
            cfg: Config {
                mode: 0o600,
                open_timeout: DEFAULT_OPEN_TIMEOUT,
                unlink_on_drop: true,
                unlink_when_unused: false,
            },
            _payload: PhantomData,
        }
    }

    /// The permission bits (`0o000..=0o777`) a created segment gets,
    /// exactly: the process umask does not apply. Anything outside
    /// `0o777` makes creation fail with
    /// [`InvalidArgument`](crate::Error::InvalidArgument).
    pub fn mode(mut self, mode: u32) -> Self {
        self.cfg.mode = mode;
        self
    }

    /// How long `open` and `open_or_create` wait for a creator that is
    /// still initializing the segment before failing with
    /// [`InitTimeout`](crate::Error::InitTimeout). Opening never waits
    /// longer than this (plus a few milliseconds).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.open_timeout = timeout;
        self
    }

    /// Whether an owning handle unlinks the name when dropped (default
    /// `true`). Set `false` to leave the segment for later processes; remove
    /// it with [`unlink`](crate::unlink).
    pub fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.cfg.unlink_on_drop = unlink;
        self
    }

    /// Whether the name is removed when the **last** handle to the segment,
    /// in any process, closes (default `false`): the "last one out" rule,
    /// for a group of processes none of which is in charge.
    ///
    /// Only `create` (or the creating call of `open_or_create`) reads this:
    /// it records the choice in the segment's header, and every handle of
    /// every process follows the header, whatever options it opened with.
    /// With it, the owner does not unlink on drop while others are attached
    /// ([`unlink_on_drop`](Self::unlink_on_drop) has no effect).
    ///
    /// Handles close when they are dropped, which includes unwinding from a
    /// panic but not `std::process::exit`, `abort` or a kill: if the last
    /// process to go was killed, the name stays, and
    /// [`inspect::remove_stale`](crate::inspect::remove_stale) (or
    /// `shmsync gc`) removes it. The same holds in one rare race: while a
    /// thread of the process starts a program (between its `fork` and its
    /// `exec`), the new process briefly holds copies of every descriptor,
    /// and with them this handle's lock, so a last handle closing at that
    /// instant sees the segment still in use and keeps the name.
    ///
    /// Race-free: a process that opens the name while the last handle
    /// closes either attaches to the segment (and keeps it, and its name,
    /// alive) or finds the name gone ([`open`](Self::open) fails with
    /// [`NotFound`](crate::Error::NotFound), `open_or_create` makes a new
    /// segment); it never attaches to a removed object.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::Segment;
    /// use std::sync::atomic::AtomicU64;
    ///
    /// # let name = format!("doc-last-one-out-{}", std::process::id());
    /// let first = Segment::<AtomicU64>::options().unlink_when_unused(true).open_or_create(&name)?;
    /// let second = Segment::<AtomicU64>::open(&name)?; // plain options: the header decides
    /// drop(first);
    /// assert!(Segment::<AtomicU64>::open(&name).is_ok(), "still in use");
    /// drop(second);
    /// assert!(matches!(Segment::<AtomicU64>::open(&name), Err(shmsync::Error::NotFound { .. })));
    /// # Ok::<(), shmsync::Error>(())
    /// ```
    pub fn unlink_when_unused(mut self, unlink: bool) -> Self {
        self.cfg.unlink_when_unused = unlink;
        self
    }

    fn finish(&self, name: SegmentName, attached: attach::Attached) -> Segment<T> {
        Segment::from_attached(attached, name, self.cfg.unlink_on_drop)
    }

    pub(super) fn create_raw(
        &self,
        name: &str,
        count: usize,
        init: attach::Init<'_>,
    ) -> Result<Segment<T>> {
        let name = SegmentName::new(name)?;
        let a = attach::create(&name, &self.cfg, &T::SHAPE, count, init)?;
        Ok(self.finish(name, a))
    }

    /// Creates a segment under a fresh name `"{prefix}_xxxxxxxx"` (eight
    /// random hex digits), drawing again while the name is taken.
    pub(super) fn create_unique_raw(
        &self,
        prefix: &str,
        count: usize,
        init: attach::Init<'_>,
    ) -> Result<Segment<T>> {
        // 2^32 names per prefix: a name is taken twice in a row only if
        // /dev/shm is crowded with this prefix; give up after a few draws.
        const DRAWS: usize = 16;
        // `_` and eight hex digits follow the prefix.
        const SUFFIX: usize = 9;
        if prefix.trim_start_matches('/').len() + SUFFIX > super::name::MAX_NAME_LEN {
            return Err(crate::Error::InvalidName {
                name: prefix.to_owned(),
                reason: "a unique-name prefix must leave room for the 9 bytes added to it \
                         (at most 191 bytes)",
            });
        }
        // Check the name's shape and the arguments once, under the pattern
        // every draw follows, so an error names no random name that was
        // never created.
        let pattern = SegmentName::new(&format!("{prefix}_xxxxxxxx"))?;
        attach::check_arguments(&pattern, &self.cfg, &T::SHAPE, count)?;
        let mut last = None;
        for _ in 0..DRAWS {
            let candidate = format!("{prefix}_{:08x}", crate::sys::token::random_token());
            match self.create_raw(&candidate, count, &mut *init) {
                Err(e @ crate::Error::AlreadyExists { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("DRAWS > 0"))
    }

    pub(super) fn open_raw(&self, name: &str) -> Result<Segment<T>> {
        let name = SegmentName::new(name)?;
        let a = attach::open(&name, &self.cfg, &T::SHAPE)?;
        Ok(self.finish(name, a))
    }

    pub(super) fn open_or_create_raw(
        &self,
        name: &str,
        count: usize,
        init: attach::Init<'_>,
    ) -> Result<Segment<T>> {
        let name = SegmentName::new(name)?;
        let a = attach::open_or_create(&name, &self.cfg, &T::SHAPE, count, init)?;
        Ok(self.finish(name, a))
    }
}

/// Adapts `FnOnce(&mut T)` to the protocol's payload callback.
fn typed_init<T: ShmSafe>(init: impl FnOnce(&mut T)) -> impl FnMut(*mut u8, usize) {
    let mut init = Some(init);
    move |payload, _count| {
        if let Some(f) = init.take() {
            // SAFETY: the protocol calls this once, with the payload of a
            // segment whose exclusive lock it holds and that no other
            // process can open yet: the pointer is valid, aligned for `T`
            // (checked geometry) and unaliased, and its bytes are all zero,
            // a valid `T`.
            f(unsafe { &mut *payload.cast::<T>() });
        }
    }
}

fn no_init(_: *mut u8, _: usize) {}

impl<T: ShmSafe> SegmentOptions<T> {
    /// [`Segment::create`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::create`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn create(&self, name: &str) -> Result<Segment<T>> {
        self.create_raw(name, 1, &mut no_init)
    }

    /// [`Segment::create_with`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::create`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn create_with(&self, name: &str, init: impl FnOnce(&mut T)) -> Result<Segment<T>> {
        self.create_raw(name, 1, &mut typed_init(init))
    }

    /// [`Segment::create_unique`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::create_unique`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn create_unique(&self, prefix: &str) -> Result<Segment<T>> {
        self.create_unique_raw(prefix, 1, &mut no_init)
    }

    /// [`Segment::create_unique`], running `init` as
    /// [`create_with`](Segment::create_with) does.
    ///
    /// # Errors
    ///
    /// As [`Segment::create_unique`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn create_unique_with(
        &self,
        prefix: &str,
        init: impl FnOnce(&mut T),
    ) -> Result<Segment<T>> {
        self.create_unique_raw(prefix, 1, &mut typed_init(init))
    }

    /// [`Segment::open`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::open`].
    pub fn open(&self, name: &str) -> Result<Segment<T>> {
        self.open_raw(name)
    }

    /// [`Segment::open_or_create`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::open_or_create`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn open_or_create(&self, name: &str) -> Result<Segment<T>> {
        self.open_or_create_raw(name, 1, &mut no_init)
    }

    /// [`Segment::open_or_create_with`] with these options.
    ///
    /// # Errors
    ///
    /// As [`Segment::open_or_create`], or
    /// [`InvalidArgument`](crate::Error::InvalidArgument) if the
    /// [`mode`](Self::mode) has bits outside `0o777`.
    pub fn open_or_create_with(&self, name: &str, init: impl FnOnce(&mut T)) -> Result<Segment<T>> {
        self.open_or_create_raw(name, 1, &mut typed_init(init))
    }
}
