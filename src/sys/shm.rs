//! POSIX shared memory objects and open-file-description (OFD) locks: thin
//! wrappers over `shm_open`, `shm_unlink`, `fchmod`, `ftruncate`, `fstat`,
//! `fcntl(F_OFD_*)` and `mmap`. Each returns the raw `io::Error` so the caller
//! can map it to the right `crate::Error`.
//!
//! Under Miri, which can do none of this, the calls that reach the kernel
//! are answered by `shm_model.rs`: the same objects, descriptions, locks and
//! mappings, kept in memory by this process. Everything built on those calls
//! (the lock ranges below, the segment protocol, the liveness registry) is
//! the same code in both builds.

use std::io;
use std::os::fd::BorrowedFd;
#[cfg(not(miri))]
use {
    std::ffi::CStr,
    std::os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// A descriptor of a shared memory object: one open file description of it,
/// closed when dropped, which releases the description's OFD locks.
#[cfg(not(miri))]
pub(crate) type ObjectFd = OwnedFd;
/// A shared, read-write mapping of a shared memory object; unmapped when
/// dropped.
#[cfg(not(miri))]
pub(crate) type Mapping = memmap2::MmapRaw;

#[cfg(miri)]
pub(crate) use super::shm_model::{
    available_bytes, dev_shm_available_bytes, fchmod, fstat, ftruncate, link_tmpfile, map,
    object_names, ofd_wait_token_released, read_at, reopen, reserve, shm_open, shm_tmpfile,
    shm_unlink, stat, write_at, Mapping, ObjectFd,
};
#[cfg(miri)]
use super::shm_model::{conflicts, try_set};

#[cfg(not(miri))]
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `shm_open(name, flags | O_CLOEXEC, mode)`.
#[cfg(not(miri))]
pub(crate) fn shm_open(name: &CStr, flags: libc::c_int, mode: u32) -> io::Result<ObjectFd> {
    // SAFETY: `name` is a valid NUL-terminated string that outlives the
    // call; shm_open has no other memory-safety preconditions.
    let fd = cvt(unsafe {
        libc::shm_open(name.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::mode_t)
    })?;
    // SAFETY: `fd` was just returned by a successful shm_open, so it is an
    // open descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(name)`.
#[cfg(not(miri))]
pub(crate) fn shm_unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is a valid NUL-terminated string.
    cvt(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
}

/// `fchmod(fd, mode)`: sets the exact mode, unaffected by the umask.
#[cfg(not(miri))]
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor borrowed for the call.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `ftruncate(fd, len)`.
#[cfg(not(miri))]
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "size exceeds off_t"))?;
    // SAFETY: `fd` is a live descriptor borrowed for the call.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// What `fstat` says about a shared memory object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub(crate) size: u64,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) mode: u32,
    /// Names the object has (0 once it is unlinked everywhere).
    pub(crate) nlink: u64,
    /// The owner's user id.
    pub(crate) uid: u32,
}

#[cfg(not(miri))]
fn from_stat(st: &libc::stat) -> FileStat {
    FileStat {
        size: u64::try_from(st.st_size).unwrap_or(0),
        #[allow(clippy::useless_conversion)]
        dev: u64::from(st.st_dev),
        #[allow(clippy::useless_conversion)]
        ino: u64::from(st.st_ino),
        #[allow(clippy::useless_conversion)]
        mode: u32::from(st.st_mode),
        uid: st.st_uid,
        #[allow(clippy::useless_conversion)]
        nlink: u64::from(st.st_nlink),
    }
}

/// `fstat(fd)`.
#[cfg(not(miri))]
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fd` is live; `st` is valid for writes of one `stat`.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it initialized `st`.
    Ok(from_stat(unsafe { st.assume_init_ref() }))
}

/// `stat(path)` without following nothing special; used to check that a
/// name still refers to the object a handle has open.
#[cfg(not(miri))]
pub(crate) fn stat(path: &CStr) -> io::Result<FileStat> {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `path` is NUL-terminated; `st` is valid for writes.
    cvt(unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: stat succeeded, so it initialized `st`.
    Ok(from_stat(unsafe { st.assume_init_ref() }))
}

/// The kind of an open-file-description lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OfdLock {
    /// `F_RDLCK`: many holders.
    Shared,
    /// `F_WRLCK`: one holder, no shared holders.
    Exclusive,
}

/// The byte ranges of a segment's object that its locks use. Locks are
/// advisory and may lie beyond the end of the file, so the two ranges never
/// touch the data and never overlap each other:
///
/// | range | lock | held by |
/// |---|---|---|
/// | `[0, TOKEN_BASE)` | the *attach* lock: exclusive while an initializer works, shared by every handle after | each handle's main descriptor |
/// | `TOKEN_BASE + t` (one byte) | the *process token* `t`: shared | a second descriptor of each handle (see `sys::liveness`) |
///
/// `2^40` is far beyond any segment this crate maps and leaves room for
/// every 32-bit token below `i64::MAX`.
pub(crate) const TOKEN_BASE: u64 = 1 << 40;

// The lock offsets are 64-bit: the supported targets have a 64-bit `off_t`.
const _: () = assert!(core::mem::size_of::<libc::off_t>() == 8);

/// A lock request of `kind` on `len` bytes from `start`.
#[allow(clippy::cast_possible_wrap)]
fn range(kind: OfdLock, start: u64, len: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers; all-zero is valid.
    let mut fl: libc::flock = unsafe { core::mem::zeroed() };
    fl.l_type = match kind {
        OfdLock::Shared => libc::F_RDLCK,
        OfdLock::Exclusive => libc::F_WRLCK,
    } as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // Both below 2^41 (see TOKEN_BASE), so they fit the 64-bit off_t.
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    // l_pid must be 0 for OFD locks.
    fl
}

/// The attach lock's range (see [`TOKEN_BASE`]).
fn attach_range(kind: OfdLock) -> libc::flock {
    range(kind, 0, TOKEN_BASE)
}

/// The lock on process token `token`'s byte (see [`TOKEN_BASE`]).
fn token_byte(kind: OfdLock, token: u32) -> libc::flock {
    range(kind, TOKEN_BASE + u64::from(token), 1)
}

/// `fcntl(F_OFD_SETLK)` without blocking: `Ok(false)` if another open file
/// description holds a conflicting lock.
#[cfg(not(miri))]
fn try_set(fd: BorrowedFd<'_>, fl: &libc::flock) -> io::Result<bool> {
    // SAFETY: `fd` is live; `fl` is a valid flock the kernel only reads.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, fl) };
    if r == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(err),
    }
}

/// `fcntl(F_OFD_GETLK)`: whether an open file description *other than*
/// `fd`'s holds a lock that conflicts with `fl`.
#[cfg(not(miri))]
fn conflicts(fd: BorrowedFd<'_>, mut fl: libc::flock) -> io::Result<bool> {
    // SAFETY: `fd` is live; `fl` is a valid flock the kernel reads and
    // overwrites with the first conflicting lock (or F_UNLCK).
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) })?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// Takes the attach lock as `kind`, without blocking. Converting a held
/// lock (exclusive → shared, shared → exclusive) is atomic. `Ok(false)` if
/// another open file description holds a conflicting lock.
pub(crate) fn ofd_try_lock(fd: BorrowedFd<'_>, kind: OfdLock) -> io::Result<bool> {
    try_set(fd, &attach_range(kind))
}

/// Whether another open file description holds an attach lock that
/// conflicts with taking `kind`.
pub(crate) fn ofd_conflicting_lock(fd: BorrowedFd<'_>, kind: OfdLock) -> io::Result<bool> {
    conflicts(fd, attach_range(kind))
}

/// Holds process token `token` (a shared lock on its byte) through `fd`,
/// which must be open for reading.
pub(crate) fn ofd_hold_token(fd: BorrowedFd<'_>, token: u32) -> io::Result<()> {
    let fl = token_byte(OfdLock::Shared, token);
    if try_set(fd, &fl)? {
        return Ok(());
    }
    wait_for_shared(fd, &fl)
}

/// The wait of [`ofd_hold_token`]: only a watcher's exclusive lock
/// conflicts, and a watcher holds it for an instant, right after the
/// token's previous holders were all gone (see `sys/watch.rs`): wait for
/// it. Linux queues no shared request behind a waiting exclusive one, so
/// this never waits for a watcher that is still blocked.
#[cfg(not(miri))]
fn wait_for_shared(fd: BorrowedFd<'_>, fl: &libc::flock) -> io::Result<()> {
    loop {
        // SAFETY: `fd` is live; `fl` is a valid flock the kernel only reads.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLKW, fl) };
        if r == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Under Miri there are no watchers, so nothing takes a token's byte
/// exclusively and the conflict cannot happen.
#[cfg(miri)]
fn wait_for_shared(_fd: BorrowedFd<'_>, _fl: &libc::flock) -> io::Result<()> {
    Err(io::Error::other("a token byte is locked exclusively"))
}

/// Waits until nobody holds process token `token` (an exclusive lock on its
/// byte through `fd`, which must be open for writing, blocking in
/// `F_OFD_SETLKW`), then lets go of that lock at once. Returns when the
/// token's last holder is gone; `EINTR` is retried.
#[cfg(not(miri))]
pub(crate) fn ofd_wait_token_released(fd: BorrowedFd<'_>, token: u32) -> io::Result<()> {
    let fl = token_byte(OfdLock::Exclusive, token);
    loop {
        // SAFETY: `fd` is live; `fl` is a valid flock the kernel only reads.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLKW, &fl) };
        if r == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    let mut unlock = fl;
    unlock.l_type = libc::F_UNLCK as libc::c_short;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &unlock) }).map(drop)
}

/// Whether any open file description other than `fd`'s holds process token
/// `token`: one `F_OFD_GETLK` write-lock test on its byte.
///
/// Only a *shared* lock there is a holder. A watcher (see `sys/watch.rs`)
/// is granted the byte exclusively once every holder is gone, and holds it
/// for an instant: a conflicting exclusive lock therefore proves the token
/// released, not held. (Taken for a holder, it made a one-shot check, such
/// as a barrier's `reset` freeing dead parties' places, miss a death.)
#[cfg(not(miri))]
pub(crate) fn ofd_token_held(fd: BorrowedFd<'_>, token: u32) -> io::Result<bool> {
    let mut fl = token_byte(OfdLock::Exclusive, token);
    // SAFETY: `fd` is live; `fl` is a valid flock the kernel reads and
    // overwrites with the first conflicting lock (or F_UNLCK).
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) })?;
    Ok(fl.l_type == libc::F_RDLCK as libc::c_short)
}

/// Under Miri: no watcher ever takes a token's byte, so any lock there is
/// a holder's.
#[cfg(miri)]
pub(crate) fn ofd_token_held(fd: BorrowedFd<'_>, token: u32) -> io::Result<bool> {
    conflicts(fd, token_byte(OfdLock::Exclusive, token))
}

/// Opens a new open file description of the object `fd` refers to,
/// close-on-exec, through `/proc/self/fd`; read-write if `writable` (needed
/// to take an exclusive lock), else read-only. A `dup` would share the
/// description, and with it its locks.
#[cfg(not(miri))]
pub(crate) fn reopen(fd: BorrowedFd<'_>, writable: bool) -> io::Result<ObjectFd> {
    let path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    let path = CStr::from_bytes_with_nul(path.as_bytes()).map_err(io::Error::other)?;
    let access = if writable { libc::O_RDWR } else { libc::O_RDONLY };
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let new = cvt(unsafe { libc::open(path.as_ptr(), access | libc::O_CLOEXEC) })?;
    // SAFETY: `new` was just returned by a successful open; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// The directory `shm_open` names live in (glibc and musl).
#[cfg(not(miri))]
const SHM_DIR: &CStr = c"/dev/shm";

/// `open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, mode)`: a new, unnamed
/// object in the shared memory directory, which [`link_tmpfile`] can later
/// give a name. `EOPNOTSUPP`/`EISDIR`/`EINVAL` where the kernel or the file
/// system lacks `O_TMPFILE`.
#[cfg(not(miri))]
pub(crate) fn shm_tmpfile(mode: u32) -> io::Result<ObjectFd> {
    // SAFETY: `SHM_DIR` is NUL-terminated and static; open has no other
    // memory-safety preconditions.
    let fd = cvt(unsafe {
        libc::open(
            SHM_DIR.as_ptr(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just returned by a successful open; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Gives the unnamed object `fd` (from [`shm_tmpfile`]) the name `path`,
/// atomically: `EEXIST` if the name is taken. Through `/proc/self/fd` (what
/// an unprivileged process may do), else with `AT_EMPTY_PATH` (which needs
/// `CAP_DAC_READ_SEARCH`).
#[cfg(not(miri))]
pub(crate) fn link_tmpfile(fd: BorrowedFd<'_>, path: &CStr) -> io::Result<()> {
    let proc_path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    let proc_path = CStr::from_bytes_with_nul(proc_path.as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both paths are NUL-terminated and outlive the call.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc_path.as_ptr(),
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOENT) {
        return Err(err);
    }
    // No /proc (or the descriptor's entry is missing): link by descriptor.
    // SAFETY: `fd` is live; the empty path is NUL-terminated and static.
    cvt(unsafe {
        libc::linkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Reserves the object's first `len` bytes (`fallocate`, mode 0), so that
/// touching them can never fail with SIGBUS for lack of space: tmpfs
/// allocates pages only when they are first touched otherwise. `ENOSPC`
/// when the file system is too full.
#[cfg(not(miri))]
pub(crate) fn reserve(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "size exceeds off_t"))?;
    if len == 0 {
        return Ok(());
    }
    loop {
        // SAFETY: `fd` is a live descriptor borrowed for the call.
        let r = unsafe { libc::fallocate(fd.as_raw_fd(), 0, 0, len) };
        if r == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Bytes available to this user on the file system holding `fd`
/// (`fstatvfs`: free blocks × fragment size).
#[cfg(not(miri))]
pub(crate) fn available_bytes(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut st = core::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `fd` is live; `st` is valid for writes of one `statvfs`.
    cvt(unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatvfs succeeded, so it initialized `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// Bytes available to this user in the shared memory directory, if it can
/// be asked (for a `NoSpace` error when not even an object could be made).
#[cfg(not(miri))]
pub(crate) fn dev_shm_available_bytes() -> Option<u64> {
    let dir = std::fs::File::open("/dev/shm").ok()?;
    available_bytes(std::os::fd::AsFd::as_fd(&dir)).ok()
}

/// The names in the shared memory directory (`/dev/shm`) that name regular
/// files, in no particular order; names that are not UTF-8 are left out
/// (no segment has one).
#[cfg(not(miri))]
pub(crate) fn object_names() -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/dev/shm")? {
        let entry = entry?;
        // `file_type` does not follow links: a symlink is nobody's segment.
        if !entry.file_type()?.is_file() {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// `pwrite`s all of `bytes` at `offset` of the object (`EINTR` and short
/// writes retried).
#[cfg(not(miri))]
pub(crate) fn write_at(fd: BorrowedFd<'_>, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        let at = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset exceeds off_t"))?;
        // SAFETY: `fd` is live; `bytes` is valid for reads of its length.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), at) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        // `n` is positive and at most `bytes.len()`.
        bytes = &bytes[n as usize..];
        offset += n as u64;
    }
    Ok(())
}

/// `pread`s up to `buf.len()` bytes at `offset`; returns how many were read
/// (fewer at the object's end). A copy through the kernel: unlike a
/// mapping, it cannot fault on an object another program truncated, and
/// the bytes, once in `buf`, are this process's own.
#[cfg(not(miri))]
pub(crate) fn read_at(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let at = libc::off_t::try_from(offset + done as u64)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset exceeds off_t"))?;
        let rest = &mut buf[done..];
        // SAFETY: `fd` is live; `rest` is valid for writes of its length.
        let n = unsafe { libc::pread(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len(), at) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    Ok(done)
}

/// Maps the first `len` bytes of the object `fd` refers to, shared and
/// read-write (`mmap(MAP_SHARED)` at an address the kernel picks, so
/// page-aligned).
#[cfg(not(miri))]
pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
    memmap2::MmapOptions::new().len(len).map_raw(fd.as_raw_fd())
}
