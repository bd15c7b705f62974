//! Why a [`ShmRwLock`](super::ShmRwLock) lock attempt did not return a plain
//! guard.

use core::fmt;

use super::ShmRwLockWriteGuard;
use crate::raw_mutex::FromRefusal;

/// Why [`ShmRwLock::read`](super::ShmRwLock::read) or
/// [`ShmRwLock::write`](super::ShmRwLock::write) did not return a plain
/// guard.
///
/// Both carry a *write* guard when a writer died: a reader must not read
/// what a dead writer may have half-written, so it is handed the write lock
/// to repair the data instead.
///
/// Like [`LockError`](crate::LockError) it deliberately does not implement
/// [`std::error::Error`]: passing an `OwnerDied` up with `?` would drop its
/// guard unrepaired, which makes the lock not recoverable for every
/// process. Handle it where you lock, or use
/// [`read_or_repair`](super::ShmRwLock::read_or_repair) /
/// [`write_or_repair`](super::ShmRwLock::write_or_repair).
pub enum RwLockError<'a, T> {
    /// A writer died (or panicked) while holding the lock. The caller holds
    /// the write lock now, through this guard, with every reader gone; the
    /// data may be inconsistent. Repair it and call
    /// [`ShmRwLockWriteGuard::make_consistent`], or drop the guard to make
    /// the lock not recoverable.
    OwnerDied(ShmRwLockWriteGuard<'a, T>),
    /// A previous writer took the lock over from a dead writer and released
    /// it without calling `make_consistent`: the data is considered lost and
    /// the lock can never be taken again.
    NotRecoverable,
}

/// Why [`try_read`](super::ShmRwLock::try_read) or
/// [`try_write`](super::ShmRwLock::try_write) did not return a plain guard.
///
/// Like [`RwLockError`] it deliberately does not implement
/// [`std::error::Error`]: an `OwnerDied` carries a guard that `?` would drop
/// unrepaired. Handle it where you lock.
pub enum TryRwLockError<'a, T> {
    /// As [`RwLockError::OwnerDied`]: the caller holds the write lock,
    /// inconsistent.
    OwnerDied(ShmRwLockWriteGuard<'a, T>),
    /// As [`RwLockError::NotRecoverable`].
    NotRecoverable,
    /// The lock cannot be had without waiting: a live thread holds it in a
    /// way that conflicts (for `try_read`: a writer holds it or waits for
    /// it; for `try_write`: anyone holds it), or, for `try_read`, every
    /// reader slot is taken.
    WouldBlock,
}

/// Why [`read_timeout`](super::ShmRwLock::read_timeout) or
/// [`write_timeout`](super::ShmRwLock::write_timeout) did not return a
/// plain guard.
///
/// Like [`RwLockError`] it deliberately does not implement
/// [`std::error::Error`]: an `OwnerDied` carries a guard that `?` would drop
/// unrepaired. Handle it where you lock.
pub enum RwLockTimeoutError<'a, T> {
    /// As [`RwLockError::OwnerDied`]: the caller holds the write lock,
    /// inconsistent.
    OwnerDied(ShmRwLockWriteGuard<'a, T>),
    /// As [`RwLockError::NotRecoverable`].
    NotRecoverable,
    /// The timeout elapsed while live threads held the lock (or, for
    /// `read_timeout`, a writer waited for it or every reader slot was
    /// taken).
    TimedOut,
}

/// What one lock operation makes of the raw lock's outcomes other than a
/// clean lock: each operation's error type names only the failures that
/// operation can meet.
pub(super) trait RwLockOutcome<'a, T>: FromRefusal {
    /// A writer died; the caller holds the write lock through `guard`,
    /// inconsistent.
    fn owner_died(guard: ShmRwLockWriteGuard<'a, T>) -> Self;
}

impl<'a, T> RwLockError<'a, T> {
    /// The guard of an `OwnerDied` error, if this is one.
    pub fn into_guard(self) -> Option<ShmRwLockWriteGuard<'a, T>> {
        match self {
            RwLockError::OwnerDied(g) => Some(g),
            RwLockError::NotRecoverable => None,
        }
    }
}

impl<'a, T> TryRwLockError<'a, T> {
    /// The guard of an `OwnerDied` error, if this is one.
    pub fn into_guard(self) -> Option<ShmRwLockWriteGuard<'a, T>> {
        match self {
            TryRwLockError::OwnerDied(g) => Some(g),
            TryRwLockError::NotRecoverable | TryRwLockError::WouldBlock => None,
        }
    }
}

impl<'a, T> RwLockTimeoutError<'a, T> {
    /// The guard of an `OwnerDied` error, if this is one.
    pub fn into_guard(self) -> Option<ShmRwLockWriteGuard<'a, T>> {
        match self {
            RwLockTimeoutError::OwnerDied(g) => Some(g),
            RwLockTimeoutError::NotRecoverable | RwLockTimeoutError::TimedOut => None,
        }
    }
}

impl<'a, T> From<RwLockError<'a, T>> for TryRwLockError<'a, T> {
    fn from(e: RwLockError<'a, T>) -> Self {
        match e {
            RwLockError::OwnerDied(g) => TryRwLockError::OwnerDied(g),
            RwLockError::NotRecoverable => TryRwLockError::NotRecoverable,
        }
    }
}

impl<'a, T> From<RwLockError<'a, T>> for RwLockTimeoutError<'a, T> {
    fn from(e: RwLockError<'a, T>) -> Self {
        match e {
            RwLockError::OwnerDied(g) => RwLockTimeoutError::OwnerDied(g),
            RwLockError::NotRecoverable => RwLockTimeoutError::NotRecoverable,
        }
    }
}

impl<'a, T> FromRefusal for RwLockError<'a, T> {
    const NOT_RECOVERABLE: Self = RwLockError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = None;
}

impl<'a, T> RwLockOutcome<'a, T> for RwLockError<'a, T> {
    fn owner_died(guard: ShmRwLockWriteGuard<'a, T>) -> Self {
        RwLockError::OwnerDied(guard)
    }
}

impl<'a, T> FromRefusal for TryRwLockError<'a, T> {
    const NOT_RECOVERABLE: Self = TryRwLockError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = Some(TryRwLockError::WouldBlock);
    const TIMED_OUT: Option<Self> = None;
}

impl<'a, T> RwLockOutcome<'a, T> for TryRwLockError<'a, T> {
    fn owner_died(guard: ShmRwLockWriteGuard<'a, T>) -> Self {
        TryRwLockError::OwnerDied(guard)
    }
}

impl<'a, T> FromRefusal for RwLockTimeoutError<'a, T> {
    const NOT_RECOVERABLE: Self = RwLockTimeoutError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = Some(RwLockTimeoutError::TimedOut);
}

impl<'a, T> RwLockOutcome<'a, T> for RwLockTimeoutError<'a, T> {
    fn owner_died(guard: ShmRwLockWriteGuard<'a, T>) -> Self {
        RwLockTimeoutError::OwnerDied(guard)
    }
}

const OWNER_DIED_MSG: &str = "a writer of the rwlock died while holding it; the data may be \
                              inconsistent: repair it through the write guard and call \
                              ShmRwLockWriteGuard::make_consistent";
const NOT_RECOVERABLE_MSG: &str = "the rwlock is not recoverable: an earlier owner-died recovery \
                                   was abandoned without make_consistent";

impl<T> fmt::Debug for RwLockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RwLockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            RwLockError::NotRecoverable => f.write_str("NotRecoverable"),
        }
    }
}

impl<T> fmt::Display for RwLockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RwLockError::OwnerDied(_) => OWNER_DIED_MSG,
            RwLockError::NotRecoverable => NOT_RECOVERABLE_MSG,
        })
    }
}

impl<T> fmt::Debug for TryRwLockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRwLockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            TryRwLockError::NotRecoverable => f.write_str("NotRecoverable"),
            TryRwLockError::WouldBlock => f.write_str("WouldBlock"),
        }
    }
}

impl<T> fmt::Display for TryRwLockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRwLockError::OwnerDied(_) => OWNER_DIED_MSG,
            TryRwLockError::NotRecoverable => NOT_RECOVERABLE_MSG,
            TryRwLockError::WouldBlock => "the rwlock cannot be had without waiting: a live thread holds it, a writer waits for \
                 it, or every reader slot is taken",
        })
    }
}

impl<T> fmt::Debug for RwLockTimeoutError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RwLockTimeoutError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            RwLockTimeoutError::NotRecoverable => f.write_str("NotRecoverable"),
            RwLockTimeoutError::TimedOut => f.write_str("TimedOut"),
        }
    }
}

impl<T> fmt::Display for RwLockTimeoutError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RwLockTimeoutError::OwnerDied(_) => OWNER_DIED_MSG,
            RwLockTimeoutError::NotRecoverable => NOT_RECOVERABLE_MSG,
            RwLockTimeoutError::TimedOut => "timed out waiting for the rwlock: live threads held it, a writer waited for it, or \
                 every reader slot was taken",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{RwLockTimeoutError, TryRwLockError};

    /// Each operation's error shows its own failure, by name and in words.
    #[test]
    fn each_error_shows_the_failure_of_its_operation() {
        let e = TryRwLockError::<u32>::WouldBlock;
        assert_eq!(format!("{e:?}"), "WouldBlock");
        assert_eq!(
            e.to_string(),
            "the rwlock cannot be had without waiting: a live thread holds it, a writer waits for \
                 it, or every reader slot is taken"
        );
        let e = RwLockTimeoutError::<u32>::TimedOut;
        assert_eq!(format!("{e:?}"), "TimedOut");
        assert_eq!(
            e.to_string(),
            "timed out waiting for the rwlock: live threads held it, a writer waited for it, or \
                 every reader slot was taken"
        );
        assert!(RwLockTimeoutError::<u32>::NotRecoverable.into_guard().is_none());
    }
}
