//! Removing segments: one by name ([`remove`]) and every stale one
//! ([`remove_stale`]).
//!
//! "Nobody has it open" is the kernel's answer: every handle holds a shared
//! lock on the segment's attach range, and an initializer an exclusive
//! one, so taking the exclusive lock (`F_OFD_SETLK`, without waiting)
//! succeeds exactly when no process is attached. The name is removed while
//! that lock is held, after checking that it still names the same object,
//! so a process that opens the name meanwhile is never cut off: it either
//! attached first (and the removal is refused), or it waits for our lock
//! and then finds the name gone (and a handle registering an object that
//! has lost its name reports `NotFound`).

use std::os::fd::AsFd;

use super::open_regular;
use crate::segment::header::{Snapshot, HEADER_SIZE};
use crate::segment::name::SegmentName;
use crate::sys::liveness;
use crate::sys::shm::{self as sys, ObjectFd, OfdLock};
use crate::{Error, Result};

/// What [`remove`] does with a segment a process has open.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Removal {
    /// Refuse with [`Error::InUse`].
    IfUnused,
    /// Remove the name anyway: processes that have it open keep their
    /// mapping (the memory is freed when the last one lets go), but nobody
    /// can open it by name any more, and a new segment may take the name.
    Force,
}

/// Removes the shmsync segment `name`.
///
/// Unlike [`unlink`](crate::unlink), it removes only shmsync segments
/// (another program's object is [`NotASegment`](Error::NotASegment)) and,
/// unless `how` is [`Removal::Force`], only while no process has the
/// segment open, as the kernel sees it at the instant of removal.
///
/// # Errors
///
/// [`InUse`](Error::InUse) (a process has it open and `how` is
/// [`Removal::IfUnused`]), [`InvalidName`](Error::InvalidName),
/// [`NotFound`](Error::NotFound), [`PermissionDenied`](Error::PermissionDenied),
/// [`NotASegment`](Error::NotASegment), [`Io`](Error::Io).
///
/// # Examples
///
/// ```
/// use shmsync::inspect::{self, Removal};
/// use shmsync::{Error, Segment};
/// use std::sync::atomic::AtomicU64;
///
/// # let name = format!("doc-remove-{}", std::process::id());
/// let seg = Segment::<AtomicU64>::options().unlink_on_drop(false).create(&name)?;
/// assert!(matches!(inspect::remove(&name, Removal::IfUnused), Err(Error::InUse { .. })));
/// drop(seg);
/// inspect::remove(&name, Removal::IfUnused)?;
/// assert!(matches!(Segment::<AtomicU64>::open(&name), Err(Error::NotFound { .. })));
/// # Ok::<(), shmsync::Error>(())
/// ```
pub fn remove(name: &str, how: Removal) -> Result<()> {
    let name = SegmentName::new(name)?;
    let (file, _) = open_regular(&name, libc::O_RDWR)?;
    check_header(&name, &file)?;
    let unused = sys::ofd_try_lock(file.as_fd(), OfdLock::Exclusive)
        .map_err(name.err().io("fcntl(F_OFD_SETLK)"))?;
    if !unused && how == Removal::IfUnused {
        return Err(name.err().in_use());
    }
    if !still_named(&name, &file) {
        // Removed (and perhaps made anew) since we opened it: not ours to
        // remove any more.
        return Err(name.err().not_found());
    }
    sys::shm_unlink(name.shm_name()).map_err(|e| name.err().os("shm_unlink", e))?;
    liveness::release_unlinked();
    Ok(())
}

/// Removes every shmsync segment that no process has open: those whose
/// users all exited or were killed without removing it (a creator that
/// ended with `std::process::exit`, `abort` or SIGKILL, or opted out of
/// unlink-on-drop), and those whose creator died while initializing
/// them. With `dry_run`, removes nothing and returns what it would remove.
/// Returns the names, sorted.
///
/// Nothing else is touched: objects without shmsync's header, segments a
/// process has open (even one it only keeps open for later), segments
/// being initialized, and objects this user may not open for writing.
/// A segment made to outlive its processes on purpose (`unlink_on_drop(false)`)
/// is stale by this rule while nobody has it open: run this when every
/// user of such segments is expected to be running, or limit it with
/// [`remove_stale_with_prefix`].
///
/// "Open" means open through shmsync (or anything that takes the same
/// shared OFD lock): a program that maps `/dev/shm/<name>` without it is
/// invisible here. Removing a name frees the memory once nothing maps it;
/// a live process that once mapped the segment keeps a descriptor of it
/// (its process token) until it next maps or unmaps a segment.
///
/// # Errors
///
/// [`Io`](Error::Io) if `/dev/shm` cannot be listed. A segment that cannot
/// be examined or removed is left alone.
///
/// # Examples
///
/// ```
/// use shmsync::Segment;
/// use std::sync::atomic::AtomicU64;
///
/// # let name = format!("doc-gc-{}", std::process::id());
/// let seg = Segment::<AtomicU64>::options().unlink_on_drop(false).create(&name)?;
/// assert!(!shmsync::inspect::remove_stale(true)?.contains(&name), "in use");
/// drop(seg); // as if its process had been killed
/// assert!(shmsync::inspect::remove_stale(true)?.contains(&name));
/// # shmsync::inspect::remove(&name, shmsync::inspect::Removal::IfUnused)?;
/// # Ok::<(), shmsync::Error>(())
/// ```
pub fn remove_stale(dry_run: bool) -> Result<Vec<String>> {
    remove_stale_with_prefix("", dry_run)
}

/// [`remove_stale`] limited to the segments whose names start with
/// `prefix` (without a leading `/`): for a program (or a test suite) that
/// cleans up after itself and must leave other programs' segments alone.
///
/// # Errors
///
/// As [`remove_stale`].
///
/// # Examples
///
/// ```
/// use shmsync::Segment;
/// use std::sync::atomic::AtomicU64;
///
/// # let prefix = format!("doc-gc-prefix-{}-", std::process::id());
/// let name = format!("{prefix}a");
/// drop(Segment::<AtomicU64>::options().unlink_on_drop(false).create(&name)?);
/// assert_eq!(shmsync::inspect::remove_stale_with_prefix(&prefix, false)?, [name]);
/// # Ok::<(), shmsync::Error>(())
/// ```
pub fn remove_stale_with_prefix(prefix: &str, dry_run: bool) -> Result<Vec<String>> {
    let prefix = prefix.strip_prefix('/').unwrap_or(prefix);
    let names = sys::object_names().map_err(|source| Error::Io {
        name: String::new(),
        op: "listing /dev/shm",
        source,
    })?;
    let mut removed: Vec<String> = names
        .iter()
        .filter(|name| name.starts_with(prefix))
        .filter_map(|name| SegmentName::new(name).ok())
        .filter(|name| remove_if_stale(name, dry_run))
        .map(|name| name.shm_name().to_string_lossy().trim_start_matches('/').to_owned())
        .collect();
    removed.sort();
    Ok(removed)
}

/// Removes `name` (or with `dry_run`, says it would) if it is a shmsync
/// segment that nobody has open and that this user may remove.
fn remove_if_stale(name: &SegmentName, dry_run: bool) -> bool {
    let Ok((file, stat)) = open_regular(name, libc::O_RDWR) else { return false };
    if check_header(name, &file).is_err() {
        return false;
    }
    if dry_run {
        // `/dev/shm` is sticky: only the owner (or root) may remove a name.
        let me = crate::sys::process::effective_uid();
        if me != 0 && me != stat.uid {
            return false;
        }
        // Asked, not taken: a dry run must not make an opener wait.
        return matches!(sys::ofd_conflicting_lock(file.as_fd(), OfdLock::Exclusive), Ok(false));
    }
    if !matches!(sys::ofd_try_lock(file.as_fd(), OfdLock::Exclusive), Ok(true)) {
        return false;
    }
    if !still_named(name, &file) {
        return false;
    }
    if sys::shm_unlink(name.shm_name()).is_err() {
        return false;
    }
    liveness::release_unlinked();
    true
}

/// `NotASegment` unless a shmsync wrote the object's header (the magic
/// alone is not enough: it is eight bytes anyone can write).
fn check_header(name: &SegmentName, file: &ObjectFd) -> Result<()> {
    let mut bytes = [0u8; HEADER_SIZE];
    let read = sys::read_at(file.as_fd(), &mut bytes, 0).map_err(name.err().io("pread"))?;
    if Snapshot::from_bytes(&bytes[..read]).is_shmsync() {
        Ok(())
    } else {
        Err(name.err().not_a_segment(if read == 0 { "empty" } else { "no shmsync header" }))
    }
}

/// Whether `name` still names the object `file` refers to.
fn still_named(name: &SegmentName, file: &ObjectFd) -> bool {
    match (sys::fstat(file.as_fd()), sys::stat(name.path())) {
        (Ok(ours), Ok(named)) => ours.dev == named.dev && ours.ino == named.ino,
        _ => false,
    }
}
