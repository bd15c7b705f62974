//! The guards of a locked [`ShmRwLock`].

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use super::ShmRwLock;
use crate::raw_mutex::UnlockMode;
use crate::sync::current_thread;

/// The RAII guard of a [`ShmRwLock`] locked for reading: derefs to the
/// data, gives the read share back on drop.
///
/// It is `!Send`: the share is counted for the locking thread's process,
/// which must give it back.
///
/// ```compile_fail
/// let lock = shmsync::ShmRwLock::new(0u32);
/// let g = lock.read().unwrap_or_else(|_| unreachable!());
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g)); // error: the guard cannot be sent
/// });
/// ```
///
/// # Panics
///
/// Dropping the guard panics if the calling process holds no read share
/// of the lock: safe code reaches this only across `fork()`, whose child is
/// a new process (its parent's share is the parent's to give back), or
/// when the shared memory was overwritten. While the thread is already
/// panicking the check stays silent.
#[must_use = "the read share is given back as soon as the guard is dropped"]
pub struct ShmRwLockReadGuard<'a, T> {
    lock: &'a ShmRwLock<T>,
    /// The holder slot the share was counted in (where the drop looks
    /// first).
    slot: usize,
    /// `!Send`: the share belongs to the locking thread's process.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&ShmRwLockReadGuard` only gives `&T` to other threads.
unsafe impl<T: Sync> Sync for ShmRwLockReadGuard<'_, T> {}

impl<'a, T> ShmRwLockReadGuard<'a, T> {
    #[inline(always)]
    pub(super) fn new(lock: &'a ShmRwLock<T>, slot: usize) -> Self {
        ShmRwLockReadGuard { lock, slot, _not_send: PhantomData }
    }
}

impl<T> Drop for ShmRwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw.read_unlock(current_thread(), self.slot);
    }
}

impl<T> Deref for ShmRwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread's process holds
        // a read share, so no writer accesses the data (a writer waits for
        // the shares to be given back); the acquire load of the writer word
        // ordered the last writer's writes before this read.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: fmt::Debug> fmt::Debug for ShmRwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for ShmRwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The RAII guard of a [`ShmRwLock`] locked for writing: derefs to the
/// data, unlocks on drop.
///
/// It is `!Send`: the writer lock records the locking thread, and only
/// that thread may unlock.
///
/// ```compile_fail
/// let lock = shmsync::ShmRwLock::new(0u32);
/// let g = lock.write().unwrap_or_else(|_| unreachable!());
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g)); // error: the guard cannot be sent
/// });
/// ```
///
/// A guard obtained through [`RwLockError::OwnerDied`](super::RwLockError::OwnerDied)
/// (or [`TryRwLockError::OwnerDied`](super::TryRwLockError::OwnerDied),
/// [`RwLockTimeoutError::OwnerDied`](super::RwLockTimeoutError::OwnerDied)) is
/// *inconsistent* until [`make_consistent`](Self::make_consistent) is
/// called; dropping it before makes the lock not recoverable. A guard
/// dropped while its thread panics leaves the lock owner-died for the next
/// locker.
///
/// # Panics
///
/// Dropping the guard (or calling `make_consistent`) panics if the writer
/// lock no longer names the calling thread as its owner: safe code reaches
/// this only across `fork()` (see [`ShmMutexGuard`](crate::ShmMutexGuard)),
/// otherwise the shared memory was overwritten. While the thread is
/// already panicking the check stays silent.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ShmRwLockWriteGuard<'a, T> {
    lock: &'a ShmRwLock<T>,
    consistent: bool,
    /// Whether the thread was already panicking when it locked.
    panicking_at_lock: bool,
    /// `!Send`: the lock must be released by the thread that took it.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&ShmRwLockWriteGuard` only gives `&T` to other threads.
unsafe impl<T: Sync> Sync for ShmRwLockWriteGuard<'_, T> {}

impl<'a, T> ShmRwLockWriteGuard<'a, T> {
    #[inline(always)]
    pub(super) fn new(lock: &'a ShmRwLock<T>, consistent: bool) -> Self {
        ShmRwLockWriteGuard {
            lock,
            consistent,
            panicking_at_lock: std::thread::panicking(),
            _not_send: PhantomData,
        }
    }

    /// Declares the data consistent after an `OwnerDied` recovery: the lock
    /// is then released normally when the guard drops. A no-op on a guard
    /// that is already consistent.
    ///
    /// An associated function (call it as
    /// `ShmRwLockWriteGuard::make_consistent(&mut g)`) so it never shadows a
    /// method of `T`.
    ///
    /// # Panics
    ///
    /// As the guard's drop, if the calling thread does not own the lock.
    ///
    /// # Examples
    ///
    /// See [`ShmRwLock`].
    pub fn make_consistent(guard: &mut Self) {
        if !guard.consistent {
            guard.lock.raw.make_consistent_as(current_thread());
            guard.consistent = true;
        }
    }

    /// Whether the data is consistent: `false` for a guard from an
    /// `OwnerDied` recovery until [`make_consistent`](Self::make_consistent).
    pub fn is_consistent(guard: &Self) -> bool {
        guard.consistent
    }
}

impl<T> Drop for ShmRwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let how = if std::thread::panicking() && !self.panicking_at_lock {
            // The panic may have interrupted an update: hand the next
            // locker `OwnerDied`, as if this writer had died.
            UnlockMode::Inconsistent
        } else if self.consistent {
            UnlockMode::Normal
        } else {
            // Dropped without `make_consistent`: the repair was abandoned.
            UnlockMode::Abandon
        };
        self.lock.raw.write_unlock(current_thread(), how);
    }
}

impl<T> Deref for ShmRwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the writer
        // lock with every reader gone, so nobody else accesses the data;
        // the acquire in the lock ordered the previous holders' accesses
        // before this one.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for ShmRwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // handed out by the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: fmt::Debug> fmt::Debug for ShmRwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for ShmRwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
