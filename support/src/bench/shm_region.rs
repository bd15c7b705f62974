//! A raw POSIX shared memory object mapped `MAP_SHARED`: the memory the
//! peers' locks live in, so that every system is measured on the same kind
//! of memory as shmsync's segments (a tmpfs page mapped by several processes).

use std::ffi::CString;
use std::io;

/// A mapping of a named POSIX shared memory object.
pub struct ShmRegion {
    ptr: *mut u8,
    len: usize,
    name: CString,
    owner: bool,
}

// SAFETY: the region is plain shared memory; what is stored in it decides
// its own thread safety (locks and atomics), exactly as for a `Segment`.
unsafe impl Send for ShmRegion {}
// SAFETY: as above; `ShmRegion` itself only hands out a raw pointer.
unsafe impl Sync for ShmRegion {}

impl ShmRegion {
    /// Creates the object `name` (which must not exist), sized `len` bytes,
    /// zero-filled, and maps it. The region unlinks the name when dropped.
    pub fn create(name: &str, len: usize) -> io::Result<Self> {
        Self::map(name, len, true)
    }

    /// Maps the existing object `name`, which must be at least `len` bytes.
    pub fn open(name: &str, len: usize) -> io::Result<Self> {
        Self::map(name, len, false)
    }

    fn map(name: &str, len: usize, create: bool) -> io::Result<Self> {
        let cname = CString::new(format!("/{name}"))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
        let flags = if create { libc::O_CREAT | libc::O_EXCL | libc::O_RDWR } else { libc::O_RDWR };
        // SAFETY: `cname` is a valid NUL-terminated string that outlives the call.
        let fd = unsafe { libc::shm_open(cname.as_ptr(), flags, 0o600) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let result = Self::map_fd(fd, len, create);
        // SAFETY: `fd` is the descriptor opened above; the mapping (if any)
        // keeps the object alive without it.
        unsafe { libc::close(fd) };
        let ptr = result.inspect_err(|_| {
            if create {
                // SAFETY: `cname` is a valid C string; we created this name.
                unsafe { libc::shm_unlink(cname.as_ptr()) };
            }
        })?;
        Ok(ShmRegion { ptr, len, name: cname, owner: create })
    }

    fn map_fd(fd: libc::c_int, len: usize, create: bool) -> io::Result<*mut u8> {
        let off = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "region too large"))?;
        if create {
            // SAFETY: `fd` is an open shm descriptor; ftruncate only sizes it.
            if unsafe { libc::ftruncate(fd, off) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: a fresh shared mapping of `len` bytes of `fd`; the kernel
        // chooses the address, so it overlaps nothing of ours.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(ptr.cast())
    }

    /// The start of the mapping (page aligned).
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The start of the mapping as a `&T`.
    ///
    /// # Safety
    ///
    /// `T` must fit in the region, be valid for every bit pattern another
    /// process may have written (atomics, or plain words only touched under
    /// a lock that lives beside them), and be `Sync`.
    pub unsafe fn get<T>(&self) -> &T {
        assert!(core::mem::size_of::<T>() <= self.len, "type larger than the region");
        // SAFETY: in bounds (checked above), page aligned, validity is the
        // caller's promise.
        unsafe { &*self.ptr.cast::<T>() }
    }
}

impl Drop for ShmRegion {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `map`; no
        // reference into it outlives `self` (they borrow it).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
        if self.owner {
            // SAFETY: `name` is a valid C string naming the object we created.
            unsafe { libc::shm_unlink(self.name.as_ptr()) };
        }
    }
}
