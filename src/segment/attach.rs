//! The create / open / open-or-create protocol.
//!
//! Two kernel facilities carry it:
//!
//! * `O_CREAT | O_EXCL` picks exactly one creator per name.
//! * An open-file-description (OFD) lock on the whole object says who is
//!   alive. The initializer holds it **exclusive** from before it sizes the
//!   object until it has published `STATE_READY`; then it downgrades to
//!   **shared**, and every handle holds it shared for its lifetime. The
//!   kernel drops an OFD lock when its last descriptor closes, which
//!   includes the death of the process, so:
//!     - "shared lock refused" ⇒ an initializer is alive and busy: wait;
//!     - "shared lock granted, state not ready" ⇒ the initializer died
//!       (a live one would hold the exclusive lock): `open` reports
//!       `CreatorDied`, `open_or_create` upgrades to exclusive and
//!       re-initializes the object in place (never unlink-and-recreate by
//!       name, which would race with other openers);
//!     - "anyone attached?" is one `F_OFD_GETLK`.
//!
//! Openers never truncate, and initializers never shrink an object below
//! its header, so a header-only mapping taken after `fstat` said the object
//! is at least a header long cannot fault (unless a foreign program
//! truncates the object, which no protocol can prevent).

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::sync::{futex_wait, futex_wake, AtomicU64, Backoff, Ordering, OPEN_RETRY};
use crate::sys::liveness;
use crate::sys::process::{getpid, pid_namespace_id, unix_time_nanos};
use crate::sys::shm::{self as sys, FileStat, Mapping, ObjectFd, OfdLock};
use crate::{Error, Result};

use super::header::{
    Creator, Geometry, Header, PayloadShape, Rejection, Verdict, FLAG_UNLINK_WHEN_UNUSED,
    HEADER_SIZE, MAGIC, STATE_INITIALIZING, STATE_READY,
};
use super::name::SegmentName;

/// Settings that shape one create/open call (see `SegmentOptions`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) mode: u32,
    pub(crate) open_timeout: Duration,
    pub(crate) unlink_on_drop: bool,
    /// Recorded in the header by the creator (`FLAG_UNLINK_WHEN_UNUSED`).
    pub(crate) unlink_when_unused: bool,
}

/// The default for `SegmentOptions::open_timeout`.
pub(crate) const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the caller's initializer on the payload: `(payload base, element count)`.
pub(crate) type Init<'a> = &'a mut dyn FnMut(*mut u8, usize);

/// A mapped, validated segment whose descriptor holds a shared OFD lock,
/// listed in `sys::liveness` (which holds this process's token on it) from
/// before anyone can lock a mutex in it until it is dropped.
pub(crate) struct Attached {
    /// The header and payload (`geometry.total_size` bytes). Declared
    /// first so it is unmapped before the lock is released.
    pub(crate) map: Mapping,
    /// Keeps the descriptor, and with it the shared OFD lock, alive. Never
    /// read: holding it is its purpose.
    #[allow(dead_code)]
    pub(crate) file: ObjectFd,
    pub(crate) geometry: Geometry,
    /// Whether this handle initialized the object.
    pub(crate) owner: bool,
    /// The process that made this handle: a forked child's copy of an
    /// owner's handle is not the owner (it must not unlink the name).
    pub(crate) pid: u32,
    /// `fstat` of the object, to recognize it by name before unlinking.
    pub(crate) stat: FileStat,
    /// The header's `UNLINK_WHEN_UNUSED` flag: the last handle to close
    /// (in any process) removes the name.
    pub(crate) unlink_when_unused: bool,
}

impl Attached {
    /// Lists `map` (a mapping of `file`) in the liveness registry, which
    /// holds this process's token on the object from now on.
    fn new(
        name: &SegmentName,
        map: Mapping,
        file: ObjectFd,
        geometry: Geometry,
        owner: bool,
        stat: FileStat,
        unlink_when_unused: bool,
    ) -> Result<Attached> {
        liveness::register(&liveness::NewMapping {
            base: map.as_ptr(),
            len: map.len(),
            main: file.as_fd(),
            name: name.shm_name(),
            dev: stat.dev,
            ino: stat.ino,
        })
        .map_err(|e| match e.raw_os_error() {
            // Unlinked before it could be listed: as if it never existed.
            Some(libc::ENOENT) => name.err().not_found(),
            _ => name.err().io("holding the process token")(e),
        })?;
        Ok(Attached { map, file, geometry, owner, pid: getpid(), stat, unlink_when_unused })
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // Before the fields drop: unmap, then close the descriptor.
        liveness::unregister(self.map.as_ptr());
    }
}

// ---------------------------------------------------------------------------
// entry points
// ---------------------------------------------------------------------------

/// `create`: makes a new object, failing with `AlreadyExists` if the name is
/// taken.
pub(crate) fn create(
    name: &SegmentName,
    cfg: &Config,
    shape: &PayloadShape,
    count: usize,
    init: Init<'_>,
) -> Result<Attached> {
    let geometry = check_arguments(name, cfg, shape, count)?;
    let deadline = deadline(cfg);
    match create_locked(name, cfg, shape, &geometry, deadline)? {
        Some((file, stat, prepared)) => {
            initialize_locked(name, cfg, shape, geometry, file, stat, init, false, prepared)
        }
        None => Err(name.err().already_exists()),
    }
}

/// `open`: attaches to an existing, initialized object.
pub(crate) fn open(name: &SegmentName, cfg: &Config, shape: &PayloadShape) -> Result<Attached> {
    let deadline = deadline(cfg);
    loop {
        match attempt_open(name, shape, deadline)? {
            Attempt::Attached(a) => return Ok(a),
            Attempt::Gone => return Err(name.err().not_found()),
            Attempt::Unfinished { creator_pid, .. } => {
                return Err(name.err().creator_died(creator_pid))
            }
            Attempt::Busy => {}
            // A live creator holds its exclusive lock from before the name
            // exists (see `create_locked`), so an empty object nobody locks
            // is a dead creator's (or a truncated object): say so at once.
            Attempt::Empty(_) => {
                return Err(name.err().not_a_segment(
                    "it is empty (0 bytes) and no creator is initializing it: its creator \
                     died before sizing it, or it was truncated; open_or_create takes it over",
                ))
            }
        }
        if Instant::now() >= deadline {
            return Err(name.err().init_timeout(cfg.open_timeout));
        }
    }
}

/// `open_or_create`: exactly one process initializes; the others open. An
/// object whose initializer died is taken over in place.
///
/// `expected_count` is the element count this caller would create; an
/// existing object with another count is a `LengthMismatch`.
pub(crate) fn open_or_create(
    name: &SegmentName,
    cfg: &Config,
    shape: &PayloadShape,
    count: usize,
    init: Init<'_>,
) -> Result<Attached> {
    let geometry = check_arguments(name, cfg, shape, count)?;
    let deadline = deadline(cfg);
    let mut backoff = Backoff::new(OPEN_RETRY);
    loop {
        if let Some((file, stat, prepared)) = create_locked(name, cfg, shape, &geometry, deadline)?
        {
            return initialize_locked(
                name, cfg, shape, geometry, file, stat, init, false, prepared,
            );
        }
        let taken_file = match attempt_open(name, shape, deadline)? {
            Attempt::Attached(a) => return check_count(name, a, count),
            // Unlinked between our attempt to create and our open: retry.
            Attempt::Gone => None,
            Attempt::Busy => None,
            Attempt::Empty(file) | Attempt::Unfinished { file, .. } => Some(file),
        };
        if let Some(file) = taken_file {
            // We hold a shared lock and nobody holds the exclusive one: the
            // initializer died. Upgrading succeeds only if no other handle
            // holds a lock;
            // converting keeps our view valid: nobody can have re-initialized
            // the object while our shared lock was held.
            if sys::ofd_try_lock(file.as_fd(), OfdLock::Exclusive)
                .map_err(name.err().io("fcntl(F_OFD_SETLK)"))?
            {
                best_effort_fchmod(&file, cfg.mode);
                // A failed fstat leaves the dead creator's object as it was.
                let stat = fstat(name, &file)?;
                return initialize_locked(
                    name, cfg, shape, geometry, file, stat, init, true, false,
                );
            }
            // Let go of our shared lock before pausing, so that we never
            // keep another taker (or a legacy-path creator) out while asleep.
            drop(file);
            backoff.sleep();
        }
        if Instant::now() >= deadline {
            return Err(name.err().init_timeout(cfg.open_timeout));
        }
    }
}

/// `is_attached`: whether any open file description (in any process,
/// including this one) holds a lock on the object.
pub(crate) fn is_attached(name: &SegmentName) -> Result<bool> {
    let fd = match sys::shm_open(name.shm_name(), libc::O_RDONLY, 0) {
        Ok(fd) => fd,
        Err(e) => return Err(open_error(name, e)),
    };
    sys::ofd_conflicting_lock(fd.as_fd(), OfdLock::Exclusive)
        .map_err(name.err().io("fcntl(F_OFD_GETLK)"))
}

/// `unlink`: removes the name.
pub(crate) fn unlink(name: &SegmentName) -> Result<()> {
    sys::shm_unlink(name.shm_name()).map_err(|e| name.err().os("shm_unlink", e))?;
    // This process may keep a token descriptor of the object, which would
    // pin its memory now that the name is gone.
    liveness::release_unlinked();
    Ok(())
}

/// The "last one out" rule of `UNLINK_WHEN_UNUSED`, run after a handle has
/// closed its own descriptor (releasing its shared lock): removes the name
/// if it still names the object `stat` describes and no open file
/// description anywhere holds a shared lock on it. Returns whether it did.
///
/// Race-free against other handles closing at the same time (each takes
/// the exclusive lock through a fresh description; whichever gets it last
/// finds the name gone or another object) and against openers: one that
/// took its shared lock first keeps us out (and removes the name itself
/// when it closes); one that takes it after we unlinked finds, when it
/// registers the object, that it has no name (`NotFound`, so
/// `open_or_create` makes a new one); one that tries while we hold the
/// exclusive lock waits and retries by name. A forked child sharing our
/// description keeps its lock, and so keeps the name.
///
/// Errs on the side of keeping the name: a process starting a program
/// (`fork` or `posix_spawn`, then `exec`) holds copies of all its
/// descriptors for a moment, and with them their locks; a last handle
/// closing in that moment sees the segment still attached and leaves the
/// name, for `inspect::remove_stale` to remove later.
pub(crate) fn unlink_if_unused(name: &SegmentName, stat: &FileStat) -> bool {
    let Ok(file) = sys::shm_open(name.shm_name(), libc::O_RDWR, 0) else { return false };
    if !matches!(sys::ofd_try_lock(file.as_fd(), OfdLock::Exclusive), Ok(true)) {
        return false;
    }
    match sys::fstat(file.as_fd()) {
        Ok(now) if now.dev == stat.dev && now.ino == stat.ino => {}
        _ => return false,
    }
    // We hold the exclusive lock on the object the name still refers to:
    // nobody is attached, and nobody can attach until we let go.
    if sys::shm_unlink(name.shm_name()).is_err() {
        return false;
    }
    liveness::release_unlinked();
    true
}

/// Unlinks `name` only if it still names the object `stat` describes: an
/// owner must not remove a newer object that reuses its name.
///
/// Between the `stat` and the unlink the name could change hands only if a
/// third process unlinked our live segment's name and a fourth created a new
/// object under it within that window. The first step alone already splits
/// the processes (later openers can no longer find our object), so this
/// window adds no harm of its own; the kernel offers no "unlink if this
/// inode" to close it.
pub(crate) fn unlink_if_same(name: &SegmentName, stat: &FileStat) {
    if let Ok(now) = sys::stat(name.path()) {
        if now.dev == stat.dev && now.ino == stat.ino && sys::shm_unlink(name.shm_name()).is_ok() {
            liveness::release_unlinked();
        }
    }
}

// ---------------------------------------------------------------------------
// creating
// ---------------------------------------------------------------------------

/// A new object named `name`, with exactly `mode`, whose exclusive lock the
/// returned file already holds; `None` if the name exists.
///
/// The object is made unnamed (`O_TMPFILE`), locked, and only then linked
/// under its name, atomically (`EEXIST` if taken). So nobody ever sees a
/// live creator's object unlocked, an opener that finds an empty object
/// nobody locks knows at once that its creator died, and a creator that
/// fails before the link leaves no name behind. The object is also sized,
/// reserved and given its header ([`prepare_locked`]) before the link, so
/// the name never shows an object without a header; the third value says
/// so (`true`). Where `O_TMPFILE` or the link is not available it falls
/// back to [`create_locked_by_name`] (`false`: the caller prepares).
fn create_locked(
    name: &SegmentName,
    cfg: &Config,
    shape: &PayloadShape,
    geometry: &Geometry,
    deadline: Instant,
) -> Result<Option<(ObjectFd, FileStat, bool)>> {
    let by_name = |name, cfg, deadline| {
        create_locked_by_name(name, cfg, deadline).map(|o| o.map(|(f, s)| (f, s, false)))
    };
    // Taken already (the common case of `open_or_create`): do not size and
    // reserve a whole object only to find out at the link. A name made
    // after this check is found at the link, as before.
    if sys::stat(name.path()).is_ok() {
        return Ok(None);
    }
    let mode = cfg.mode;
    let file = match sys::shm_tmpfile(mode) {
        Ok(fd) => fd,
        Err(e) if lacks_tmpfile(&e) => return by_name(name, cfg, deadline),
        Err(e) => return Err(create_error(name, e)),
    };
    // The exact mode: `open` applied the umask.
    sys::fchmod(file.as_fd(), mode).map_err(name.err().io("fchmod"))?;
    // Unnamed, so nobody else can hold a lock on it: granted at once.
    if !sys::ofd_try_lock(file.as_fd(), OfdLock::Exclusive)
        .map_err(name.err().io("fcntl(F_OFD_SETLK)"))?
    {
        return Err(name.err().io_error(
            "fcntl(F_OFD_SETLK)",
            io::Error::other("an unnamed object was locked by someone else"),
        ));
    }
    // Its identity, taken while it has no name: nothing can fail between
    // the link and the guard that removes the name again on failure.
    let stat = fstat(name, &file)?;
    if let Err(e) = prepare_locked(name, cfg, shape, geometry, &file) {
        // Out of space because another process just made (and reserved)
        // the segment: open that one instead.
        if matches!(e, Error::NoSpace { .. }) && sys::stat(name.path()).is_ok() {
            return Ok(None);
        }
        return Err(e);
    }
    match sys::link_tmpfile(file.as_fd(), name.path()) {
        Ok(()) => Ok(Some((file, stat, true))),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(None),
        Err(e) if lacks_tmpfile(&e) || e.raw_os_error() == Some(libc::EPERM) => {
            by_name(name, cfg, deadline)
        }
        Err(e) => Err(create_error(name, e)),
    }
}

/// Errors that mean "no `O_TMPFILE` + link here": an old kernel or a file
/// system without it, or no way to link an unnamed file.
fn lacks_tmpfile(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL) | Some(libc::ENOENT)
    )
}

/// The fallback of [`create_locked`]: `shm_open(O_CREAT | O_EXCL)`, then the
/// exclusive lock. Between the two an opener can see the empty object
/// unlocked: `open` then reports it empty, and an `open_or_create` may take
/// it over, in which case this returns `None` (the name exists, made by
/// someone else).
fn create_locked_by_name(
    name: &SegmentName,
    cfg: &Config,
    deadline: Instant,
) -> Result<Option<(ObjectFd, FileStat)>> {
    let mode = cfg.mode;
    let file =
        match sys::shm_open(name.shm_name(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, mode) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(None),
            Err(e) => return Err(create_error(name, e)),
        };
    let mut backoff = Backoff::new(OPEN_RETRY);
    loop {
        // An opener may hold a shared lock for a moment (it sees an empty
        // object and lets go), or an `open_or_create` may have upgraded and
        // taken the empty object over.
        if sys::ofd_try_lock(file.as_fd(), OfdLock::Exclusive)
            .map_err(name.err().io("fcntl(F_OFD_SETLK)"))?
        {
            break;
        }
        if fstat(name, &file)?.size > 0 {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            // Not unlinked: by now another process may have taken the name
            // over; an empty object left behind is taken over by the next
            // `open_or_create`.
            return Err(name.err().init_timeout(cfg.open_timeout));
        }
        backoff.sleep();
    }
    // We hold the exclusive lock: nobody else is attached, so on failure
    // the name (still ours) can go.
    let stat = fstat(name, &file)?;
    if stat.size > 0 {
        // Taken over, finished and abandoned before we got the lock.
        return Ok(None);
    }
    if let Err(e) = sys::fchmod(file.as_fd(), mode) {
        unlink_if_same(name, &stat);
        return Err(name.err().io("fchmod")(e));
    }
    Ok(Some((file, stat)))
}

/// Sizes, maps and initializes an object whose exclusive lock `file` holds,
/// publishes it, downgrades to a shared lock and wakes waiting openers.
/// `takeover`: the object held a dead initializer's leftovers.
#[allow(clippy::too_many_arguments)]
fn initialize_locked(
    name: &SegmentName,
    cfg: &Config,
    shape: &PayloadShape,
    geometry: Geometry,
    file: ObjectFd,
    stat: FileStat,
    init: Init<'_>,
    takeover: bool,
    prepared: bool,
) -> Result<Attached> {
    // If anything fails or the initializer panics, leave the object as a
    // dead creator would (not ready; our lock goes when `file` drops), so
    // `open_or_create` elsewhere can take it over, but remove the name if it
    // is still this object, so that a plain retry of `create` works and no
    // half-made segment lingers. Nobody is attached: we hold the exclusive
    // lock.
    struct RemoveUnlessPublished<'a> {
        name: &'a SegmentName,
        stat: FileStat,
        armed: bool,
    }
    impl Drop for RemoveUnlessPublished<'_> {
        fn drop(&mut self) {
            if self.armed {
                unlink_if_same(self.name, &self.stat);
            }
        }
    }
    let mut guard = RemoveUnlessPublished { name, stat, armed: true };

    if !prepared {
        prepare_locked(name, cfg, shape, &geometry, &file)?;
    }
    // Listed (and our token held on it) before the initializer can lock
    // anything in it, let alone publish it.
    let mapping = map(name, &file, geometry.total_size)?;
    let attached =
        Attached::new(name, mapping, file, geometry, true, stat, cfg.unlink_when_unused)?;
    let map = &attached.map;
    // SAFETY: the mapping is `total_size >= HEADER_SIZE` bytes long and
    // page-aligned (so aligned for `Header`), and lives as long as `map`;
    // `Header` is all atomics, so a shared reference is valid whatever other
    // processes write.
    let header = unsafe { &*map.as_ptr().cast::<Header>() };
    // SAFETY: `payload_offset + payload size == total_size`, the mapped
    // length, so the payload range lies inside the mapping.
    let payload = unsafe { map.as_mut_ptr().add(geometry.payload_offset) };
    let payload_len = geometry.total_size - geometry.payload_offset;
    if takeover {
        // A dead initializer may have left anything; every payload starts
        // from all zeros (valid for every ShmSafe type).
        // SAFETY: the range is inside our mapping; we hold the exclusive
        // lock, so no shmsync handle maps the payload (openers map it only
        // under a shared lock).
        unsafe { core::ptr::write_bytes(payload, 0, payload_len) };
    }

    init(payload, geometry.element_count);
    guard.armed = false;

    // Release: pairs with the acquire load of the state in
    // `Header::snapshot` (and in `wait_for_initializer`): whoever reads
    // READY sees the header fields and the initializer's writes.
    header.state().store(STATE_READY, Ordering::Release);
    // Converting exclusive → shared is atomic and cannot conflict.
    if !sys::ofd_try_lock(attached.file.as_fd(), OfdLock::Shared)
        .map_err(name.err().io("fcntl(F_OFD_SETLK)"))?
    {
        return Err(name
            .err()
            .io_error("fcntl(F_OFD_SETLK)", io::Error::other("could not downgrade our own lock")));
    }
    futex_wake(header.state(), u32::MAX);
    Ok(attached)
}

/// Sizes the object whose exclusive lock `file` holds, reserves its pages,
/// writes the field map and the header, in state `INITIALIZING`: what a
/// creator does before its initializer runs. On the `O_TMPFILE` path this
/// runs before the object gets its name, so a creator killed at any point
/// leaves either no name or a segment `open_or_create` and
/// `inspect::remove_stale` recognize as its creator's leftovers.
fn prepare_locked(
    name: &SegmentName,
    cfg: &Config,
    shape: &PayloadShape,
    geometry: &Geometry,
    file: &ObjectFd,
) -> Result<()> {
    // The payload, then the field map (for inspectors; see field_map.rs).
    let field_map = shape.field_map(geometry.element_count);
    // `geometry` fits `i64` with room for the largest map.
    let object_size = geometry.field_map_offset + field_map.len();
    // Never below HEADER_SIZE (total_size includes the header), so waiters'
    // header-only mappings stay valid.
    sys::ftruncate(file.as_fd(), object_size as u64).map_err(name.err().io("ftruncate"))?;
    // Reserve every page before anything touches one: a sparse object on a
    // full /dev/shm kills its first writer with SIGBUS.
    reserve(name, file, object_size as u64)?;
    // The field map is written once, before publication; handles map only
    // up to the payload's end, inspectors read the map with `pread`.
    sys::write_at(file.as_fd(), &field_map, geometry.field_map_offset as u64)
        .map_err(name.err().io("pwrite (field map)"))?;
    let head = map(name, file, HEADER_SIZE)?;
    // SAFETY: HEADER_SIZE mapped bytes of an object at least that long
    // (sized above), page-aligned, alive as long as `head`; `Header` is all
    // atomics, so a shared reference is valid whatever others write.
    let header = unsafe { &*head.as_ptr().cast::<Header>() };
    // Relaxed: nobody reads the state until the release store of READY;
    // the exclusive lock keeps every other initializer out.
    header.state().store(STATE_INITIALIZING, Ordering::Relaxed);
    let flags = if cfg.unlink_when_unused { FLAG_UNLINK_WHEN_UNUSED } else { 0 };
    header.write(shape, geometry, field_map.len(), flags, &creator());
    Ok(())
}

fn creator() -> Creator {
    let me = crate::sync::current_thread();
    Creator {
        pid: getpid(),
        tid: me.tid,
        token: me.token,
        pid_namespace: pid_namespace_id(),
        unix_nanos: unix_time_nanos(),
    }
}

/// Reserves the object's `len` bytes; `NoSpace` (with what was free) if
/// `/dev/shm` cannot hold them. A file system without `fallocate` keeps the
/// sparse object (nothing better can be done there).
fn reserve(name: &SegmentName, file: &ObjectFd, len: u64) -> Result<()> {
    match sys::reserve(file.as_fd(), len) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Err(no_space(name, file, len)),
        Err(e) => Err(name.err().io("fallocate")(e)),
    }
}

/// `NoSpace` for `needed` bytes, with what the file system has free.
fn no_space(name: &SegmentName, file: &ObjectFd, needed: u64) -> Error {
    let available = sys::available_bytes(file.as_fd()).unwrap_or(0);
    name.err().no_space(needed, available)
}

/// Maps an error of creating the object `name` (no space for one more
/// object is `NoSpace`, the rest as `shm_open`'s).
fn create_error(name: &SegmentName, e: io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        let available = sys::dev_shm_available_bytes().unwrap_or(0);
        return name.err().no_space(0, available);
    }
    open_error(name, e)
}

fn best_effort_fchmod(file: &ObjectFd, mode: u32) {
    // A taken-over object may belong to another user (EPERM); its mode was
    // chosen by its creator then, which is fine.
    let _ = sys::fchmod(file.as_fd(), mode);
}

// ---------------------------------------------------------------------------
// opening
// ---------------------------------------------------------------------------

/// The outcome of one open attempt.
enum Attempt {
    /// Opened and validated; holds a shared lock.
    Attached(Attached),
    /// The name does not exist (any more).
    Gone,
    /// An initializer holds the exclusive lock; we waited a little.
    Busy,
    /// Zero bytes long and nobody holds the exclusive lock: a creator
    /// between `shm_open` and its lock, or one that died there. Holds a
    /// shared lock.
    Empty(ObjectFd),
    /// Not ready, and nobody holds the exclusive lock: the initializer died.
    /// Holds a shared lock.
    Unfinished { file: ObjectFd, creator_pid: u32 },
}

fn attempt_open(name: &SegmentName, shape: &PayloadShape, deadline: Instant) -> Result<Attempt> {
    let file = match sys::shm_open(name.shm_name(), libc::O_RDWR, 0) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Attempt::Gone),
        Err(e) => return Err(open_error(name, e)),
    };
    if !sys::ofd_try_lock(file.as_fd(), OfdLock::Shared)
        .map_err(name.err().io("fcntl(F_OFD_SETLK)"))?
    {
        wait_for_initializer(name, &file, deadline)?;
        return Ok(Attempt::Busy);
    }
    let stat = fstat(name, &file)?;
    let size_mismatch = |expected: u64| name.err().size_mismatch(expected, stat.size);
    if stat.size == 0 {
        return Ok(Attempt::Empty(file));
    }
    if stat.size < MAGIC.len() as u64 {
        return Err(name.err().not_a_segment("smaller than a header"));
    }
    if stat.size < HEADER_SIZE as u64 {
        // Too short to hold a header: a truncated segment if the magic is
        // there, someone else's object otherwise. `stat.size` < 256 fits usize.
        let head = map(name, &file, stat.size as usize)?;
        // SAFETY: the mapping is at least 8 bytes long (checked above) and
        // page-aligned, so its first 8 bytes are a valid, aligned
        // `AtomicU64` for as long as `head` lives; every bit pattern is a
        // valid `u64`. An atomic load (not a plain or volatile read) because
        // another process may be writing these bytes.
        let word = unsafe { &*head.as_ptr().cast::<AtomicU64>() };
        // Relaxed: a one-off diagnostic read, nothing is published by it.
        let magic = word.load(Ordering::Relaxed).to_ne_bytes();
        return Err(if magic == MAGIC {
            size_mismatch(HEADER_SIZE as u64)
        } else {
            name.err().not_a_segment("bad magic")
        });
    }

    let head = map(name, &file, HEADER_SIZE)?;
    // SAFETY: the mapping is HEADER_SIZE bytes, page-aligned, lives as long
    // as `head`; `Header` is all atomics, valid for any bytes.
    let snapshot = unsafe { &*head.as_ptr().cast::<Header>() }.snapshot();
    let geometry = match snapshot.check(shape, stat.size) {
        Ok(Verdict::Ready(g)) => g,
        Ok(Verdict::Unfinished { creator_pid }) => {
            return Ok(Attempt::Unfinished { file, creator_pid })
        }
        Err(Rejection::NotASegment(reason)) => return Err(name.err().not_a_segment(reason)),
        Err(Rejection::Version(found)) => {
            return Err(name.err().version_mismatch(super::header::FORMAT_VERSION, found))
        }
        Err(Rejection::Layout { found_name, found_fingerprint, found_size, found_align }) => {
            return Err(name.err().layout_mismatch(
                shape,
                found_name,
                found_fingerprint,
                found_size,
                found_align,
            ))
        }
        Err(Rejection::Size { expected, found }) => {
            return Err(name.err().size_mismatch(expected, found))
        }
    };
    drop(head);
    // `check` proved total_size <= stat.size: the whole mapping is backed.
    let map = map(name, &file, geometry.total_size)?;
    match Attached::new(name, map, file, geometry, false, stat, snapshot.unlink_when_unused()) {
        Ok(attached) => Ok(Attempt::Attached(attached)),
        // Unlinked while we opened it: `open` says NotFound, and
        // `open_or_create` tries again (and creates a new one).
        Err(Error::NotFound { .. }) => Ok(Attempt::Gone),
        Err(e) => Err(e),
    }
}

/// Waits a little for the initializer that holds the exclusive lock: on the
/// state futex if the header is there yet, else by sleeping.
fn wait_for_initializer(name: &SegmentName, file: &ObjectFd, deadline: Instant) -> Result<()> {
    const SLICE: Duration = Duration::from_millis(20);
    let left = deadline.saturating_duration_since(Instant::now()).min(SLICE);
    if fstat(name, file)?.size < HEADER_SIZE as u64 {
        std::thread::sleep(left.min(Duration::from_millis(1)));
        return Ok(());
    }
    let head = map(name, file, HEADER_SIZE)?;
    // SAFETY: HEADER_SIZE mapped bytes of a file at least that long, which
    // no initializer shrinks below HEADER_SIZE; `Header` is all atomics.
    let header = unsafe { &*head.as_ptr().cast::<Header>() };
    // Acquire: pairs with the initializer's release store of READY (not
    // needed for correctness here: we re-read everything under the lock).
    let state = header.state().load(Ordering::Acquire);
    if state == STATE_READY {
        // Published; the initializer is about to downgrade its lock.
        std::thread::yield_now();
    } else {
        // Woken by the initializer's `futex_wake` after it publishes; the
        // timeout bounds the wait if it dies instead.
        futex_wait(header.state(), state, Some(left));
    }
    Ok(())
}

fn check_count(name: &SegmentName, a: Attached, count: usize) -> Result<Attached> {
    if a.geometry.element_count == count {
        Ok(a)
    } else {
        Err(name.err().length_mismatch(count, a.geometry.element_count))
    }
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn deadline(cfg: &Config) -> Instant {
    let now = Instant::now();
    now.checked_add(cfg.open_timeout).unwrap_or(now + Duration::from_secs(86_400 * 365))
}

/// Checks what the caller asked for before anything is made: the mode's
/// bits and whether `count` elements fit. Returns the geometry of `count`
/// elements.
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming `"length"` or `"mode"`.
pub(crate) fn check_arguments(
    name: &SegmentName,
    cfg: &Config,
    shape: &PayloadShape,
    count: usize,
) -> Result<Geometry> {
    let geometry = geometry_for(name, shape, count)?;
    check_mode(name, cfg.mode)?;
    Ok(geometry)
}

fn geometry_for(name: &SegmentName, shape: &PayloadShape, count: usize) -> Result<Geometry> {
    shape.geometry(count).ok_or_else(|| {
        let allowed = match max_count(shape) {
            Some(max) => format!("at most {max} elements of {} bytes fit", shape.element_size),
            None => format!("no element of {} bytes fits", shape.element_size),
        };
        name.err().invalid_argument(
            "length",
            format!("{count} elements do not fit the address space with the header: {allowed}"),
        )
    })
}

/// The largest element count whose segment fits, if any does: the geometry
/// only grows with the count, so a binary search finds the edge.
fn max_count(shape: &PayloadShape) -> Option<usize> {
    shape.geometry(0)?;
    let (mut fits, mut too_many) = (0usize, usize::MAX);
    if shape.geometry(too_many).is_some() {
        return Some(too_many);
    }
    while too_many - fits > 1 {
        let mid = fits + (too_many - fits) / 2;
        if shape.geometry(mid).is_some() {
            fits = mid;
        } else {
            too_many = mid;
        }
    }
    Some(fits)
}

fn check_mode(name: &SegmentName, mode: u32) -> Result<()> {
    if mode & !0o777 == 0 {
        return Ok(());
    }
    Err(name.err().invalid_argument(
        "mode",
        format!("{mode:#o} has bits outside 0o777; give permission bits only"),
    ))
}

fn map(name: &SegmentName, file: &ObjectFd, len: usize) -> Result<Mapping> {
    sys::map(file.as_fd(), len).map_err(name.err().io("mmap"))
}

fn fstat(name: &SegmentName, file: &ObjectFd) -> Result<FileStat> {
    sys::fstat(file.as_fd()).map_err(name.err().io("fstat"))
}

/// Maps an error of `shm_open` on `name`.
fn open_error(name: &SegmentName, e: io::Error) -> Error {
    name.err().os("shm_open", e)
}
