//! Under Miri: the shared memory objects of `shm.rs`, kept in memory.
//!
//! Miri runs one process and cannot `shm_open`, `fcntl(F_OFD_*)` or `mmap`
//! a named object (its isolation also stops at the first file system
//! access). So that the segment protocol, the header validation and the
//! liveness registry still run under it, this module answers the calls of
//! `shm.rs` that reach the kernel, for the one process there is, with the
//! kernel's semantics as far as the crate relies on them:
//!
//! | kernel | here |
//! |---|---|
//! | an object: bytes, size, mode, inode | an [`Object`] in [`TABLE`], its bytes in a page-aligned, zero-filled [`Buffer`] |
//! | a name in `/dev/shm` | an entry of `names`; `shm_unlink` removes it, and the object lives on while a description refers to it |
//! | an open file description | an [`ObjectFd`]; it owns an `eventfd` only to have a descriptor number of its own (what `BorrowedFd`s carry) under which the table knows the description; dropping it closes the description and releases its locks |
//! | an OFD lock | a byte range held shared or exclusive by a description; two locks conflict if they overlap, belong to different descriptions and one is exclusive |
//! | a reopen through `/proc/self/fd` | a new description of the same object |
//! | `mmap(MAP_SHARED)` | a [`Mapping`]: a pointer into the object's buffer, so that every mapping of an object sees the same bytes |
//!
//! Not modeled: permissions and the umask (Miri has one user), other
//! processes (so nothing is ever waited for: `F_OFD_SETLKW` is refused,
//! and it is never asked, since Miri also lacks `futex_waitv` and no
//! watcher starts), `ENOSPC`. An object grown beyond its buffer moves to a
//! bigger one: a mapping made earlier keeps the old bytes where the
//! kernel's would see the new ones. The crate grows an object only under
//! its exclusive lock, before anybody maps it whole; at most an opener
//! waiting for the initializer holds a header mapping, which it only uses
//! to sleep on the state word with a timeout. Mapping past an object's end
//! is refused (the kernel's mapping would fault on access).

use core::ptr::NonNull;
use std::alloc::{self, Layout};
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::shm::FileStat;

/// Mappings start on a page boundary; payloads rely on it for alignment.
const PAGE: usize = 4096;

/// What `SegmentName::path` puts in front of a name.
const SHM_DIR: &[u8] = b"/dev/shm/";

/// An object's bytes: a zero-filled allocation of whole pages.
struct Buffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Buffer {
    fn new(len: usize) -> io::Result<Buffer> {
        let cap = len.max(1).checked_next_multiple_of(PAGE).ok_or_else(|| errno(libc::EFBIG))?;
        let layout = Layout::from_size_align(cap, PAGE).map_err(|_| errno(libc::EFBIG))?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| errno(libc::ENOMEM))?;
        Ok(Buffer { ptr, layout })
    }

    fn capacity(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, and freed only here;
        // every mapping of it holds the `Arc` this buffer lives in.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

// SAFETY: a buffer is plain memory reached through raw pointers, like
// shared memory: its users synchronize their accesses themselves (atomics,
// and the segment protocol's locks), as they do across processes.
unsafe impl Send for Buffer {}
// SAFETY: as above.
unsafe impl Sync for Buffer {}

/// A shared memory object.
struct Object {
    mode: u32,
    size: usize,
    buffer: Arc<Buffer>,
}

impl Object {
    /// `ftruncate`: bytes past the old size read as zeros.
    fn resize(&mut self, len: usize) -> io::Result<()> {
        if len > self.buffer.capacity() {
            let bigger = Buffer::new(len)?;
            // SAFETY: both buffers hold at least `size` bytes (`size` never
            // exceeds the capacity) and are distinct allocations.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    self.buffer.ptr.as_ptr(),
                    bigger.ptr.as_ptr(),
                    self.size,
                );
            };
            self.buffer = Arc::new(bigger);
        } else if len < self.size {
            // Zeroed now, so that growing again shows zeros as the kernel's
            // object would.
            // SAFETY: `len..size` lies inside the buffer.
            unsafe {
                core::ptr::write_bytes(self.buffer.ptr.as_ptr().add(len), 0, self.size - len)
            };
        }
        self.size = len;
        Ok(())
    }

    /// `pwrite`: writes `bytes` at `offset`, growing the object if needed.
    fn write_at(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        let end = offset.checked_add(bytes.len()).ok_or_else(|| errno(libc::EFBIG))?;
        if end > self.size {
            self.resize(end)?;
        }
        // SAFETY: `offset..end` lies inside the buffer (`end <= size`), and
        // `bytes` is another allocation. A plain copy, as another program
        // writing the file would make; only tests write this way, while no
        // other thread touches those bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.buffer.ptr.as_ptr().add(offset),
                bytes.len(),
            );
        };
        Ok(())
    }

    fn read(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.size];
        // SAFETY: the buffer holds `size` bytes; `out` is another allocation.
        unsafe {
            core::ptr::copy_nonoverlapping(self.buffer.ptr.as_ptr(), out.as_mut_ptr(), self.size)
        };
        out
    }
}

/// An open file description: the object it refers to, and its access.
struct Description {
    ino: u64,
    writable: bool,
}

/// An OFD lock on the bytes `start..end` of object `ino`, held by the
/// description whose descriptor number is `holder`.
struct Lock {
    holder: RawFd,
    ino: u64,
    start: u64,
    end: u64,
    exclusive: bool,
}

/// Everything the kernel would know, for this process.
struct Table {
    names: BTreeMap<Vec<u8>, u64>,
    objects: BTreeMap<u64, Object>,
    descriptions: BTreeMap<RawFd, Description>,
    locks: Vec<Lock>,
    last_ino: u64,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    names: BTreeMap::new(),
    objects: BTreeMap::new(),
    descriptions: BTreeMap::new(),
    locks: Vec::new(),
    last_ino: 0,
});

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The table's key for an `shm_open` name (one leading `/` dropped).
fn key(name: &[u8]) -> Vec<u8> {
    name.strip_prefix(b"/").unwrap_or(name).to_vec()
}

/// The table's key for a path in the shared memory directory.
fn key_of_path(path: &CStr) -> io::Result<Vec<u8>> {
    path.to_bytes().strip_prefix(SHM_DIR).map(<[u8]>::to_vec).ok_or_else(|| errno(libc::ENOENT))
}

impl Table {
    fn description(&self, fd: BorrowedFd<'_>) -> io::Result<&Description> {
        self.descriptions.get(&fd.as_raw_fd()).ok_or_else(|| errno(libc::EBADF))
    }

    fn object(&mut self, ino: u64) -> io::Result<&mut Object> {
        // A described or named object is always listed.
        self.objects.get_mut(&ino).ok_or_else(|| errno(libc::ENOENT))
    }

    fn named(&mut self, key: &[u8]) -> io::Result<&mut Object> {
        let ino = *self.names.get(key).ok_or_else(|| errno(libc::ENOENT))?;
        self.object(ino)
    }

    fn new_object(&mut self, mode: u32) -> io::Result<u64> {
        let buffer = Arc::new(Buffer::new(PAGE)?);
        self.last_ino += 1;
        let ino = self.last_ino;
        self.objects.insert(ino, Object { mode: mode & 0o7777, size: 0, buffer });
        Ok(ino)
    }

    /// Drops object `ino` once it has neither a name nor a description
    /// (mappings keep its buffer).
    fn forget_if_unused(&mut self, ino: u64) {
        let named = self.names.values().any(|&i| i == ino);
        let described = self.descriptions.values().any(|d| d.ino == ino);
        if !named && !described {
            self.objects.remove(&ino);
        }
    }

    /// A new description of object `ino`.
    fn open(&mut self, ino: u64, writable: bool) -> io::Result<ObjectFd> {
        // SAFETY: eventfd has no memory-safety preconditions.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned by eventfd; nobody else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        self.descriptions.insert(raw, Description { ino, writable });
        Ok(ObjectFd { fd })
    }
}

/// A descriptor of an object: one open file description (see the module
/// docs). Dropping it closes the description and releases its locks.
pub(crate) struct ObjectFd {
    /// An `eventfd`, for a descriptor number nobody else has while this
    /// description is open.
    fd: OwnedFd,
}

impl AsFd for ObjectFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for ObjectFd {
    fn drop(&mut self) {
        let raw = self.fd.as_raw_fd();
        let mut table = table();
        table.locks.retain(|l| l.holder != raw);
        if let Some(d) = table.descriptions.remove(&raw) {
            table.forget_if_unused(d.ino);
        }
        // `fd` closes after this, so its number is reused only once the
        // table no longer lists it.
    }
}

/// A shared mapping of an object: its buffer's first `len` bytes.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Keeps the bytes alive while mapped, as the kernel keeps the pages.
    _buffer: Arc<Buffer>,
}

// SAFETY: as for `Buffer`: shared memory, whose users synchronize.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

pub(crate) fn shm_open(name: &CStr, flags: libc::c_int, mode: u32) -> io::Result<ObjectFd> {
    let key = key(name.to_bytes());
    let writable = flags & libc::O_ACCMODE == libc::O_RDWR;
    let exclusive_create = libc::O_CREAT | libc::O_EXCL;
    let mut table = table();
    let ino = match table.names.get(&key) {
        Some(_) if flags & exclusive_create == exclusive_create => return Err(errno(libc::EEXIST)),
        Some(&ino) => ino,
        None if flags & libc::O_CREAT != 0 => {
            let ino = table.new_object(mode)?;
            table.names.insert(key, ino);
            ino
        }
        None => return Err(errno(libc::ENOENT)),
    };
    table.open(ino, writable)
}

pub(crate) fn shm_unlink(name: &CStr) -> io::Result<()> {
    let mut table = table();
    let ino = table.names.remove(&key(name.to_bytes())).ok_or_else(|| errno(libc::ENOENT))?;
    table.forget_if_unused(ino);
    Ok(())
}

pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    let mut table = table();
    let ino = table.description(fd)?.ino;
    table.object(ino)?.mode = mode & 0o7777;
    Ok(())
}

pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let mut table = table();
    let d = table.description(fd)?;
    if !d.writable {
        return Err(errno(libc::EINVAL));
    }
    let ino = d.ino;
    let len = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
    table.object(ino)?.resize(len)
}

/// `nlink` is the number of names the table has for the object, as tmpfs
/// counts links (registration refuses an object with none).
fn stat_of(ino: u64, object: &Object, names: &BTreeMap<Vec<u8>, u64>) -> FileStat {
    let nlink = names.values().filter(|&&i| i == ino).count() as u64;
    FileStat {
        size: object.size as u64,
        dev: 0,
        ino,
        mode: libc::S_IFREG | object.mode,
        nlink,
        uid: 0,
    }
}

pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
    let mut table = table();
    let ino = table.description(fd)?.ino;
    let names = table.names.clone();
    Ok(stat_of(ino, table.object(ino)?, &names))
}

pub(crate) fn stat(path: &CStr) -> io::Result<FileStat> {
    let key = key_of_path(path)?;
    let mut table = table();
    let ino = *table.names.get(&key).ok_or_else(|| errno(libc::ENOENT))?;
    let names = table.names.clone();
    Ok(stat_of(ino, table.object(ino)?, &names))
}

/// The byte range of a lock request (`l_len == 0` reaches to the end of
/// any file, as for `fcntl`).
fn span(fl: &libc::flock) -> io::Result<(u64, u64)> {
    let start = u64::try_from(fl.l_start).map_err(|_| errno(libc::EINVAL))?;
    let end = match u64::try_from(fl.l_len) {
        Ok(0) => u64::MAX,
        Ok(len) => start.checked_add(len).ok_or_else(|| errno(libc::EOVERFLOW))?,
        Err(_) => return Err(errno(libc::EINVAL)),
    };
    Ok((start, end))
}

/// `fcntl(F_OFD_SETLK)`. A new lock replaces the description's locks it
/// overlaps; the crate's ranges (the attach range, single token bytes)
/// never overlap partly, so no lock needs splitting.
pub(crate) fn try_set(fd: BorrowedFd<'_>, fl: &libc::flock) -> io::Result<bool> {
    let (start, end) = span(fl)?;
    let holder = fd.as_raw_fd();
    let mut table = table();
    let d = table.description(fd)?;
    let (ino, writable) = (d.ino, d.writable);
    let mine = |l: &Lock| l.holder == holder && l.ino == ino && l.start < end && start < l.end;
    let exclusive = match i32::from(fl.l_type) {
        libc::F_UNLCK => {
            table.locks.retain(|l| !mine(l));
            return Ok(true);
        }
        libc::F_RDLCK => false,
        libc::F_WRLCK if writable => true,
        // A write lock needs a description open for writing.
        libc::F_WRLCK => return Err(errno(libc::EBADF)),
        _ => return Err(errno(libc::EINVAL)),
    };
    let conflict = table.locks.iter().any(|l| {
        l.holder != holder
            && l.ino == ino
            && l.start < end
            && start < l.end
            && (l.exclusive || exclusive)
    });
    if conflict {
        return Ok(false);
    }
    table.locks.retain(|l| !mine(l));
    table.locks.push(Lock { holder, ino, start, end, exclusive });
    Ok(true)
}

/// `fcntl(F_OFD_GETLK)`: whether a description other than `fd`'s holds a
/// lock that conflicts with `fl`.
pub(crate) fn conflicts(fd: BorrowedFd<'_>, fl: libc::flock) -> io::Result<bool> {
    let (start, end) = span(&fl)?;
    let holder = fd.as_raw_fd();
    let table = table();
    let ino = table.description(fd)?.ino;
    let exclusive = i32::from(fl.l_type) == libc::F_WRLCK;
    Ok(table.locks.iter().any(|l| {
        l.holder != holder
            && l.ino == ino
            && l.start < end
            && start < l.end
            && (l.exclusive || exclusive)
    }))
}

/// Waiting for a token's release needs another process to release it;
/// under Miri there is none, and no watcher asks (Miri has no
/// `futex_waitv`, so `watch` never starts one).
pub(crate) fn ofd_wait_token_released(_fd: BorrowedFd<'_>, _token: u32) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "no other process exists under Miri"))
}

pub(crate) fn reopen(fd: BorrowedFd<'_>, writable: bool) -> io::Result<ObjectFd> {
    let mut table = table();
    let ino = table.description(fd)?.ino;
    table.open(ino, writable)
}

pub(crate) fn shm_tmpfile(mode: u32) -> io::Result<ObjectFd> {
    let mut table = table();
    let ino = table.new_object(mode)?;
    table.open(ino, true)
}

pub(crate) fn link_tmpfile(fd: BorrowedFd<'_>, path: &CStr) -> io::Result<()> {
    let key = key_of_path(path)?;
    let mut table = table();
    let ino = table.description(fd)?.ino;
    if table.names.contains_key(&key) {
        return Err(errno(libc::EEXIST));
    }
    table.names.insert(key, ino);
    Ok(())
}

/// `fallocate(mode 0)`: extends the object to `len` bytes if shorter.
pub(crate) fn reserve(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let mut table = table();
    let d = table.description(fd)?;
    if !d.writable {
        return Err(errno(libc::EBADF));
    }
    let ino = d.ino;
    let len = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
    let object = table.object(ino)?;
    if len > object.size {
        object.resize(len)?;
    }
    Ok(())
}

/// The names of the objects, as listing `/dev/shm` shows them.
pub(crate) fn object_names() -> io::Result<Vec<String>> {
    Ok(table().names.keys().map(|k| String::from_utf8_lossy(k).into_owned()).collect())
}

/// `pwrite` through a description open for writing.
pub(crate) fn write_at(fd: BorrowedFd<'_>, bytes: &[u8], offset: u64) -> io::Result<()> {
    let mut table = table();
    let d = table.description(fd)?;
    if !d.writable {
        return Err(errno(libc::EBADF));
    }
    let ino = d.ino;
    let offset = usize::try_from(offset).map_err(|_| errno(libc::EFBIG))?;
    table.object(ino)?.write_at(offset, bytes)
}

/// `pread`: up to `buf.len()` bytes at `offset`, fewer at the end.
pub(crate) fn read_at(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut table = table();
    let ino = table.description(fd)?.ino;
    let bytes = table.object(ino)?.read();
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    let n = buf.len().min(bytes.len() - start);
    buf[..n].copy_from_slice(&bytes[start..start + n]);
    Ok(n)
}

/// No space limit is modeled.
pub(crate) fn available_bytes(fd: BorrowedFd<'_>) -> io::Result<u64> {
    table().description(fd)?;
    Ok(u64::MAX)
}

/// No space limit is modeled, so nobody asks.
pub(crate) fn dev_shm_available_bytes() -> Option<u64> {
    None
}

pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
    let mut table = table();
    let d = table.description(fd)?;
    if !d.writable {
        // A shared writable mapping needs a description open for writing.
        return Err(errno(libc::EACCES));
    }
    let ino = d.ino;
    let object = table.object(ino)?;
    if len == 0 || len > object.size {
        return Err(errno(libc::EINVAL));
    }
    Ok(Mapping { ptr: object.buffer.ptr, len, _buffer: Arc::clone(&object.buffer) })
}

/// Test support under Miri: the bytes of the object named `name`, read and
/// written as another program would through `/dev/shm/<name>`, which Miri
/// does not have. Not part of the API.
pub mod hooks {
    use std::io;

    use super::{key, table};

    /// `pwrite` of `bytes` at `offset` (growing the object if needed).
    pub fn write_at(name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let offset = usize::try_from(offset).map_err(|_| super::errno(libc::EFBIG))?;
        table().named(&key(name.as_bytes()))?.write_at(offset, bytes)
    }

    /// The whole object.
    pub fn read(name: &str) -> io::Result<Vec<u8>> {
        Ok(table().named(&key(name.as_bytes()))?.read())
    }

    /// `std::fs::write`: creates the object (mode `0o644`) or empties it,
    /// then writes `bytes`.
    pub fn write(name: &str, bytes: &[u8]) -> io::Result<()> {
        let key = key(name.as_bytes());
        let mut table = table();
        let ino = match table.names.get(&key) {
            Some(&ino) => ino,
            None => {
                let ino = table.new_object(0o644)?;
                table.names.insert(key, ino);
                ino
            }
        };
        let object = table.object(ino)?;
        object.resize(0)?;
        object.write_at(0, bytes)
    }

    /// `ftruncate` to `len` bytes.
    pub fn set_len(name: &str, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| super::errno(libc::EFBIG))?;
        table().named(&key(name.as_bytes()))?.resize(len)
    }
}
