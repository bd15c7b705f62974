//! glibc's process-shared `pthread_mutex_t` and `pthread_cond_t`, robust or
//! not, driven through `libc` the way a user without shmsync would.

use std::io;
use std::mem::MaybeUninit;

/// What `lock` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locked {
    /// An ordinary acquisition.
    Clean,
    /// The previous owner died holding it (`EOWNERDEAD`); the mutex was made
    /// consistent again before returning.
    OwnerDied,
}

/// A handle on a `pthread_mutex_t` that lives in shared memory.
#[derive(Clone, Copy)]
pub struct PthreadMutex {
    raw: *mut libc::pthread_mutex_t,
}

// SAFETY: a process-shared pthread mutex may be used from any thread of any
// process; the handle is only its address.
unsafe impl Send for PthreadMutex {}
// SAFETY: as above.
unsafe impl Sync for PthreadMutex {}

fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::new(io::Error::from_raw_os_error(r).kind(), format!("{what}: errno {r}")))
    }
}

impl PthreadMutex {
    /// Initializes a `PTHREAD_PROCESS_SHARED` mutex at `raw`, robust
    /// (`PTHREAD_MUTEX_ROBUST`) if asked.
    ///
    /// # Safety
    ///
    /// `raw` must be valid, aligned, shared memory that nobody uses yet and
    /// that outlives every handle.
    pub unsafe fn init(raw: *mut libc::pthread_mutex_t, robust: bool) -> io::Result<Self> {
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is writable storage for one attribute object, which
        // `pthread_mutexattr_init` initializes before the others read it.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()), "pthread_mutexattr_init")?;
            check(
                libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
                "pthread_mutexattr_setpshared",
            )?;
            if robust {
                check(
                    libc::pthread_mutexattr_setrobust(
                        attr.as_mut_ptr(),
                        libc::PTHREAD_MUTEX_ROBUST,
                    ),
                    "pthread_mutexattr_setrobust",
                )?;
            }
            let r = libc::pthread_mutex_init(raw, attr.as_ptr());
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            check(r, "pthread_mutex_init")?;
        }
        Ok(PthreadMutex { raw })
    }

    /// A handle on a mutex another process initialized.
    ///
    /// # Safety
    ///
    /// `raw` must point to a mutex initialized by [`PthreadMutex::init`] in
    /// memory that outlives the handle.
    pub unsafe fn from_raw(raw: *mut libc::pthread_mutex_t) -> Self {
        PthreadMutex { raw }
    }

    /// The mutex's address (for a condvar wait).
    #[inline]
    pub fn raw(&self) -> *mut libc::pthread_mutex_t {
        self.raw
    }

    /// Locks; on `EOWNERDEAD` marks the mutex consistent and reports it.
    ///
    /// # Panics
    ///
    /// On any other error (`ENOTRECOVERABLE`, `EDEADLK`): the benchmark is
    /// wrong, not slow.
    #[inline]
    pub fn lock(&self) -> Locked {
        // SAFETY: `raw` points to an initialized shared mutex (constructor
        // contract).
        match unsafe { libc::pthread_mutex_lock(self.raw) } {
            0 => Locked::Clean,
            libc::EOWNERDEAD => {
                // SAFETY: we own the mutex (EOWNERDEAD means acquired).
                let r = unsafe { libc::pthread_mutex_consistent(self.raw) };
                assert_eq!(r, 0, "pthread_mutex_consistent");
                Locked::OwnerDied
            }
            e => panic!("pthread_mutex_lock: errno {e}"),
        }
    }

    /// Unlocks.
    ///
    /// # Panics
    ///
    /// If glibc reports an error (the caller did not own it).
    #[inline]
    pub fn unlock(&self) {
        // SAFETY: `raw` is initialized; the caller owns it (benchmark logic).
        let r = unsafe { libc::pthread_mutex_unlock(self.raw) };
        debug_assert_eq!(r, 0, "pthread_mutex_unlock");
    }
}

/// A handle on a `PTHREAD_PROCESS_SHARED` `pthread_cond_t` in shared memory.
#[derive(Clone, Copy)]
pub struct PthreadCondvar {
    raw: *mut libc::pthread_cond_t,
}

// SAFETY: a process-shared condvar may be used from any thread of any process.
unsafe impl Send for PthreadCondvar {}
// SAFETY: as above.
unsafe impl Sync for PthreadCondvar {}

impl PthreadCondvar {
    /// Initializes a process-shared condvar at `raw`.
    ///
    /// # Safety
    ///
    /// As [`PthreadMutex::init`].
    pub unsafe fn init(raw: *mut libc::pthread_cond_t) -> io::Result<Self> {
        let mut attr = MaybeUninit::<libc::pthread_condattr_t>::uninit();
        // SAFETY: `attr` is initialized by `pthread_condattr_init` first.
        unsafe {
            check(libc::pthread_condattr_init(attr.as_mut_ptr()), "pthread_condattr_init")?;
            check(
                libc::pthread_condattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
                "pthread_condattr_setpshared",
            )?;
            let r = libc::pthread_cond_init(raw, attr.as_ptr());
            libc::pthread_condattr_destroy(attr.as_mut_ptr());
            check(r, "pthread_cond_init")?;
        }
        Ok(PthreadCondvar { raw })
    }

    /// A handle on a condvar another process initialized.
    ///
    /// # Safety
    ///
    /// As [`PthreadMutex::from_raw`].
    pub unsafe fn from_raw(raw: *mut libc::pthread_cond_t) -> Self {
        PthreadCondvar { raw }
    }

    /// Waits; the caller holds `mutex`.
    #[inline]
    pub fn wait(&self, mutex: &PthreadMutex) {
        // SAFETY: both are initialized shared objects; the caller holds
        // `mutex`, as pthread_cond_wait requires.
        let r = unsafe { libc::pthread_cond_wait(self.raw, mutex.raw()) };
        assert!(r == 0 || r == libc::EOWNERDEAD, "pthread_cond_wait: errno {r}");
    }

    /// Wakes one waiter.
    #[inline]
    pub fn notify_one(&self) {
        // SAFETY: `raw` is an initialized shared condvar.
        unsafe { libc::pthread_cond_signal(self.raw) };
    }
}

/// A handle on a `PTHREAD_PROCESS_SHARED` `pthread_rwlock_t` in shared
/// memory, with glibc's default kind (readers preferred), as a user of
/// `libc` (or of `raw_sync::locks::RwLock`) gets it. Not robust: glibc has
/// no robust rwlock.
#[derive(Clone, Copy)]
pub struct PthreadRwLock {
    raw: *mut libc::pthread_rwlock_t,
}

// SAFETY: a process-shared rwlock may be used from any thread of any process.
unsafe impl Send for PthreadRwLock {}
// SAFETY: as above.
unsafe impl Sync for PthreadRwLock {}

impl PthreadRwLock {
    /// Initializes a process-shared rwlock at `raw`.
    ///
    /// # Safety
    ///
    /// As [`PthreadMutex::init`].
    pub unsafe fn init(raw: *mut libc::pthread_rwlock_t) -> io::Result<Self> {
        let mut attr = MaybeUninit::<libc::pthread_rwlockattr_t>::uninit();
        // SAFETY: `attr` is initialized by `pthread_rwlockattr_init` first.
        unsafe {
            check(libc::pthread_rwlockattr_init(attr.as_mut_ptr()), "pthread_rwlockattr_init")?;
            check(
                libc::pthread_rwlockattr_setpshared(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_PROCESS_SHARED,
                ),
                "pthread_rwlockattr_setpshared",
            )?;
            let r = libc::pthread_rwlock_init(raw, attr.as_ptr());
            libc::pthread_rwlockattr_destroy(attr.as_mut_ptr());
            check(r, "pthread_rwlock_init")?;
        }
        Ok(PthreadRwLock { raw })
    }

    /// A handle on an rwlock another process initialized.
    ///
    /// # Safety
    ///
    /// As [`PthreadMutex::from_raw`].
    pub unsafe fn from_raw(raw: *mut libc::pthread_rwlock_t) -> Self {
        PthreadRwLock { raw }
    }

    /// Locks for reading.
    #[inline]
    pub fn read(&self) {
        // SAFETY: `raw` is an initialized shared rwlock.
        let r = unsafe { libc::pthread_rwlock_rdlock(self.raw) };
        assert_eq!(r, 0, "pthread_rwlock_rdlock");
    }

    /// Locks for writing.
    #[inline]
    pub fn write(&self) {
        // SAFETY: `raw` is an initialized shared rwlock.
        let r = unsafe { libc::pthread_rwlock_wrlock(self.raw) };
        assert_eq!(r, 0, "pthread_rwlock_wrlock");
    }

    /// Unlocks (either kind).
    #[inline]
    pub fn unlock(&self) {
        // SAFETY: `raw` is initialized; the caller holds it.
        let r = unsafe { libc::pthread_rwlock_unlock(self.raw) };
        debug_assert_eq!(r, 0, "pthread_rwlock_unlock");
    }
}
