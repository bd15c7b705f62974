//! Locking where no owner may have died.

use shmsync::{ShmMutex, ShmMutexGuard};

/// Locks `m`, which no process holding it can have died with: a test or
/// benchmark that meets a dead owner where none was killed is checking or
/// measuring the wrong thing.
///
/// # Panics
///
/// If the lock reports `OwnerDied` or `NotRecoverable`.
#[inline]
pub fn lock_clean<T>(m: &ShmMutex<T>) -> ShmMutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| panic!("expected a clean lock, got {e:?}"))
}
